"""Shared fixtures: a small synthetic corn set, made once per session, and offline hubs."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub: tests never reach a hub

import shutil
from pathlib import Path

import pytest

from cornkit.clip.model import TINY_MODEL, ClipSpec
from cornkit.data.synth import make_synthetic_corn

N_TRAIN, N_TEST = 160, 40


@pytest.fixture(scope="session")
def corn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention synthetic set; copy it (``corn_copy``) before changing it."""
    return make_synthetic_corn(tmp_path_factory.mktemp("corn") / "data", n_train=N_TRAIN, n_test=N_TEST, seed=1).root


@pytest.fixture
def corn_copy(corn_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic set that a test may break."""
    return Path(shutil.copytree(corn_dir, tmp_path / "data"))


@pytest.fixture
def tiny_clip() -> ClipSpec:
    """The kit's tiny open_clip model with (seeded) random weights."""
    return ClipSpec(TINY_MODEL, "none")


@pytest.fixture(scope="session")
def clip_work(corn_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A work folder with the default split and the tiny model's cached features of ``corn_dir``."""
    from cornkit.clip.features import extract_features
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import make_split

    work = tmp_path_factory.mktemp("work")
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, work)
    features = extract_features(dataset, work, ClipSpec(TINY_MODEL, "none"), num_workers=0)
    return dataset, split, work, features


def validation_rows(ids, labels, split_id: str = "test-split", id_column: str = "seed_id"):
    """Hand-made validation rows for a Run built in a test (not from a saved split)."""
    import numpy as np

    from cornkit.data.split import ValidationRows

    return ValidationRows(ids=np.asarray(ids), labels=np.asarray(labels, dtype=str), split_id=split_id, id_column=id_column)


@pytest.fixture
def kfold_work(corn_dir: Path, tmp_path: Path, clip_work):
    """A 3-fold split of ``corn_dir`` in a fresh work folder that shares ``clip_work``'s cached features."""
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import make_split

    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path, folds=3)
    (tmp_path / "features").symlink_to(clip_work[3].path.parent)
    return dataset, split, tmp_path

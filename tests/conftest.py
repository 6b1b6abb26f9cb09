"""Shared fixtures: a small synthetic corn set, made once per session, offline hubs, and the stand-in Kaggle API."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub: tests never reach a hub

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cornkit.clip.model import TINY_MODEL, ClipSpec
from cornkit.data.synth import make_synthetic_corn
from cornkit.defaults import COMPETITION
from cornkit.logs import console
from kaggle_standin import StandinKaggle, StandinServer

N_TRAIN, N_TEST = 160, 40


@pytest.fixture(autouse=True)
def kit_lines_on_stderr() -> Iterator[None]:
    """The kit's log lines on (captured) stderr, as the command line shows them, for tests that call the library directly."""
    with console():
        yield


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


@pytest.fixture
def sweep_work(corn_dir: Path, tmp_path: Path, clip_work):
    """A holdout split of the synthetic set in a fresh work folder that shares the session's cached tiny-CLIP features."""
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import make_split

    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path / "work")
    (tmp_path / "work" / "features").symlink_to(clip_work[3].path.parent)
    return dataset, split, tmp_path / "work"


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


@pytest.fixture(scope="module")
def corn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corn set with its solution.csv (the stand-in scores against it)."""
    return make_synthetic_corn(tmp_path_factory.mktemp("corn") / "corn", n_train=40, n_test=30, seed=3).root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean home: no credentials from the machine running the tests, and no kernel."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_KERNEL_RUN_TYPE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    return home


def route_to(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    """Send every http(s) request of the client to ``proxy`` (the stand-in, or a dead port)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, proxy)


@pytest.fixture
def standin(corn: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinKaggle]:
    """The stand-in API, running, with the client routed to it and valid credentials in the env."""
    state = StandinKaggle(competition=COMPETITION, data_dir=corn)
    with StandinServer(state) as server:
        route_to(monkeypatch, server.proxy_url)
        monkeypatch.setenv("KAGGLE_USERNAME", state.username)
        monkeypatch.setenv("KAGGLE_KEY", state.key)
        extended = sys.modules.get("kaggle.api.kaggle_api_extended")
        if extended is not None and "--local" not in extended.KaggleApi.args:
            pytest.fail("kaggle was imported without KAGGLE_API_ENVIRONMENT=LOCALHOST; it would not call the stand-in")
        yield state


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run the ``cornkit`` command line in-process; its exit code, stdout and stderr."""
    from cornkit.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *needles: str) -> str:
    """Assert the command failed with one readable error line (no traceback) containing ``needles``, its last line.

    The steps a command logged before it failed (the GPU quota it read, say) may come first: they are
    the kit's one-line messages, never a traceback or a second error.
    """
    assert code == 2, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line or line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1] and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]

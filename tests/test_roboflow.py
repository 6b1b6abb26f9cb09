"""A Roboflow CLIP export becomes a competition folder every command can read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cornkit.clip.prompts import load_prompt_file
from cornkit.data.dataset import load_dataset
from cornkit.data.roboflow import import_roboflow
from cornkit.errors import CornkitError


def _export(corn_dir: Path, root: Path) -> Path:
    """A Roboflow-style tree made from the synthetic set: test/<class>/<image>, captions."""
    train = pd.read_csv(corn_dir / "train.csv")
    for row in train.head(60).itertuples():
        target = root / "test" / row.label / Path(row.image).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corn_dir / row.image, target)
    (root / "test" / "_tokenization.txt").write_text("a broken kernel\na brown kernel\na clean kernel\na cut kernel\n")
    return root


def test_import_writes_a_loadable_competition_folder(corn_dir: Path, tmp_path: Path) -> None:
    root = _export(corn_dir, tmp_path / "flowers")
    imported = import_roboflow(root, test_frac=0.25)
    dataset = load_dataset(root)
    assert dataset.classes == imported.classes == ("broken", "discolored", "pure", "silkcut")
    assert len(dataset.train) + len(dataset.test) == 60 and len(dataset.test) == imported.n_test == 15
    solution = pd.read_csv(root / "solution.csv", dtype=str)
    assert all(
        Path(image).parent.name == label for image, label in zip(dataset.test.set_index("seed_id").loc[solution.seed_id, "image"], solution.label, strict=True)
    )
    assert imported.tokenization == root / "test" / "_tokenization.txt"
    assert load_prompt_file(imported.tokenization, dataset.classes).get(None).names["pure"] == ("a clean kernel",)
    with pytest.raises(CornkitError, match="imported before"):
        import_roboflow(root)


def test_a_folder_without_class_folders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match="no images under train/, valid/, test/<class>/"):
        import_roboflow(tmp_path)

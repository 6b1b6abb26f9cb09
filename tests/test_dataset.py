"""Loading a competition folder: every bad input is refused with a message that says where."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cornkit.data.dataset import DataConfig, load_dataset
from cornkit.errors import CornkitError


def _edit(path: Path, change) -> None:
    frame = pd.read_csv(path)
    change(frame).to_csv(path, index=False)


def test_classes_come_sorted_from_the_data_or_from_the_config(corn_dir: Path) -> None:
    assert load_dataset(corn_dir).classes == ("broken", "discolored", "pure", "silkcut")
    order = ("pure", "broken", "discolored", "silkcut")
    assert load_dataset(corn_dir, DataConfig(classes=order)).classes == order


def test_a_class_named_twice_is_refused(corn_dir: Path) -> None:
    with pytest.raises(CornkitError, match="names 'pure' more than once"):
        load_dataset(corn_dir, DataConfig(classes=("pure", "broken", "pure", "discolored", "silkcut")))


def test_the_folder_a_kaggle_zip_unpacks_into_is_found(corn_dir: Path, tmp_path: Path) -> None:
    """Kaggle's zip adds a ``corn/`` level; ``--data`` may name the folder above it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "corn").symlink_to(corn_dir, target_is_directory=True)
    assert load_dataset(tmp_path / "data").root == tmp_path / "data" / "corn"


def test_other_column_names_work_through_the_config(corn_copy: Path) -> None:
    original = load_dataset(corn_copy)
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        _edit(corn_copy / name, lambda f: f.rename(columns={"seed_id": "id", "image": "path", "label": "target"}))
    dataset = load_dataset(corn_copy, DataConfig(id_column="id", image_column="path", label_column="target"))
    assert dataset.id_column == "id"
    assert dataset.ids("train") == original.ids("train") and dataset.ids("test") == original.ids("test")
    assert dataset.train["label"].tolist() == original.train["label"].tolist()  # read from 'target' into the one shape
    assert dataset.image_paths("train") == original.image_paths("train") and dataset.image_paths("test") == original.image_paths("test")
    assert dataset.classes == original.classes


def test_column_roles_come_from_names_not_positions(corn_copy: Path, tmp_path: Path) -> None:
    """``label,seed_id``: the id column is the one sample_submission.csv shares with test.csv; the submission keeps the sample's order."""
    from cornkit.kaggle.submission import build_submission
    from cornkit.runs.run import Run

    _edit(corn_copy / "sample_submission.csv", lambda f: f[["label", "seed_id"]])
    dataset = load_dataset(corn_copy, check_images=False)
    assert dataset.id_column == "seed_id"
    test = pd.DataFrame({"seed_id": dataset.ids("test"), **{c: 1.0 / len(dataset.classes) for c in dataset.classes}})
    run = Run("r", dataset.classes, pd.DataFrame(), test, {"classes": list(dataset.classes), "id_column": "seed_id"})
    submission = build_submission(run, dataset)
    assert list(submission.columns) == ["label", "seed_id"] and submission["seed_id"].tolist() == dataset.sample_submission["seed_id"].tolist()
    _edit(corn_copy / "test.csv", lambda f: f.rename(columns={"seed_id": "id"}))
    with pytest.raises(CornkitError, match=r"sample_submission.csv: none of its columns \['label', 'seed_id'\] is also in test.csv"):
        load_dataset(corn_copy, check_images=False)


@pytest.mark.parametrize(
    ("csv", "change", "message"),
    [
        ("train.csv", lambda f: f.drop(columns="label"), r"train.csv: which column holds the label\? There is no 'label' column.*\[\].*--label-column"),
        (
            "train.csv",
            lambda f: f.assign(seed_id=[f.seed_id[0], *list(f.seed_id[1:3]), f.seed_id[0], *list(f.seed_id[4:])]),
            r"train.csv, row 5, column 'seed_id': id '\d+' already appears in row 2",
        ),
        ("train.csv", lambda f: f.assign(label=["pure"] * 2 + ["mouldy"] + list(f.label[3:])), r"train.csv, row 4, column 'label': unknown label 'mouldy'"),
        ("train.csv", lambda f: f.assign(image=["train/nope.png", *list(f.image[1:])]), r"train.csv, row 2, column 'image': image 'train/nope.png' not found"),
        (
            "test.csv",
            lambda f: f.assign(image=["../../etc/passwd", *list(f.image[1:])]),
            r"test.csv, row 2, column 'image': '../../etc/passwd' points outside the data folder",
        ),
        ("test.csv", lambda f: f.iloc[:0], r"test.csv has a header but no rows"),
        ("test.csv", lambda f: f.assign(seed_id=["", *list(f.seed_id[1:])]), r"test.csv, row 2, column 'seed_id': empty id"),
        (
            "test.csv",
            lambda f: f.assign(seed_id=["abc", *list(f.seed_id[1:])]),
            r"sample_submission.csv, row \d+, column 'seed_id': id '\d+' is not in test.csv",
        ),
    ],
)
def test_bad_input_names_file_row_and_column(corn_copy: Path, csv: str, change, message: str) -> None:
    _edit(corn_copy / csv, change)
    with pytest.raises(CornkitError, match=message):
        load_dataset(corn_copy, DataConfig(classes=("broken", "discolored", "pure", "silkcut")))


def test_missing_folder_and_file_say_what_data_means(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match="no such folder"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(CornkitError, match=r"sample_submission\.csv not found.*--data must be the competition folder"):
        load_dataset(tmp_path)

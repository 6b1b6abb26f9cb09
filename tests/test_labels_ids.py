"""Labels and ids are read verbatim, and the ways they can silently go wrong are refused naming rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split, make_split
from cornkit.errors import CornkitError
from cornkit.kaggle.submission import write_submission
from cornkit.runs.run import load_run, make_run, save_run


def _edit(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def _relabel(frame: pd.DataFrame) -> None:
    frame["label"] = frame["label"].map({"broken": "01", "discolored": "NA", "pure": "1", "silkcut": "010"})


def test_labels_that_look_like_numbers_or_missing_values_survive_the_whole_loop(corn_copy: Path, tmp_path: Path) -> None:
    _edit(corn_copy / "train.csv", _relabel)
    _edit(corn_copy / "sample_submission.csv", _relabel)
    dataset = load_dataset(corn_copy)
    assert dataset.classes == ("01", "010", "1", "NA")
    split = make_split(dataset, tmp_path)
    assert set(load_split(tmp_path, dataset).frame["label"]) == {"01", "010", "1", "NA"}
    rows = split.validation_rows()
    probs = np.eye(4)[[dataset.classes.index(label) for label in rows.labels]]
    test_probs = np.eye(4)[np.arange(len(dataset.test)) % 4]
    run = make_run(
        approach="oracle", model="m", classes=dataset.classes, split=split, val_probs=probs,
        test_ids=dataset.ids("test"), test_probs=test_probs, config={}, seed=0,
    )  # fmt: skip
    assert run.metrics["val_accuracy"] == 1.0
    save_run(run, tmp_path)
    written = write_submission(load_run(run.run_id, tmp_path), dataset, tmp_path / "subs")
    labels = pd.read_csv(written.path, dtype=str, keep_default_na=False)["label"]
    assert set(labels) == {"01", "010", "1", "NA"}


@pytest.mark.parametrize(("spelling", "row"), [("pure ", 4), ("Pure", 4), (" pure", 4), ("pure  ", 4)])
def test_a_label_differing_only_in_spaces_or_case_is_refused_naming_rows(corn_copy: Path, spelling: str, row: int) -> None:
    train = pd.read_csv(corn_copy / "train.csv", dtype=str)
    first_pure = int((train["label"] == "pure").to_numpy().nonzero()[0][0])
    other = int((train["label"] != "pure").to_numpy().nonzero()[0][0])
    _edit(corn_copy / "train.csv", lambda f: f.__setitem__("label", [spelling if i == other else v for i, v in enumerate(f["label"])]))
    rows = sorted((first_pure + 2, other + 2))
    with pytest.raises(CornkitError, match=rf"train.csv, rows {rows[0]} and {rows[1]}, column 'label': .*differ only in spaces or case"):
        load_dataset(corn_copy)


@pytest.mark.parametrize(
    ("csv", "row", "value", "message"),
    [
        ("test.csv", 3, "SAME_AS_ROW_2", r"test.csv, row 3, column 'seed_id': id '\d+' already appears in row 2"),
        ("train.csv", 2, " ", r"train.csv, row 2, column 'seed_id': empty id"),
        ("sample_submission.csv", 4, "777777", r"sample_submission.csv, row 4, column 'seed_id': id '777777' is not in test.csv"),
        ("sample_submission.csv", 4, "01234", r"sample_submission.csv, row 4, column 'seed_id': id '01234' is not in test.csv"),
    ],
)
def test_bad_ids_are_one_line_naming_the_row(corn_copy: Path, csv: str, row: int, value: str, message: str) -> None:
    def change(frame: pd.DataFrame) -> None:
        frame.loc[row - 2, "seed_id"] = frame.loc[0, "seed_id"] if value == "SAME_AS_ROW_2" else value

    _edit(corn_copy / csv, change)
    with pytest.raises(CornkitError, match=message) as error:
        load_dataset(corn_copy, check_images=False)
    assert "\n" not in str(error.value)


def test_the_id_column_still_comes_from_sample_submission(corn_copy: Path) -> None:
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        _edit(corn_copy / name, lambda f: f.rename(columns={"seed_id": "Id"}, inplace=True))
    dataset = load_dataset(corn_copy, check_images=False)
    assert dataset.id_column == "Id" and dataset.ids("train") == pd.read_csv(corn_copy / "train.csv", dtype=str)["Id"].tolist()

"""Probabilities that are not probabilities: refused when a Run is made and when one is read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import validation_rows
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.runs.run import load_run, make_run, save_run

CLASSES = ("a", "b", "01")


def _make(val_probs: np.ndarray, test_probs: np.ndarray | None = None, labels=("a", "b", "01")):
    return make_run(
        approach="probe",
        model="m",
        classes=CLASSES,
        split=validation_rows([1, 2, 3], list(labels), "split-x"),
        val_probs=val_probs,
        test_ids=[10, 11],
        test_probs=np.full((2, 3), 1 / 3) if test_probs is None else test_probs,
        config={},
        seed=0,
    )


GOOD = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    ("row", "column", "value", "says"),
    [
        (1, 0, np.nan, r"row 3, column 'a': the probability is nan"),
        (0, 2, np.inf, r"row 2, column '01': the probability is inf"),
        (2, 1, -0.5, r"row 4, column 'b': the probability is negative"),
        (0, 0, 0.9, r"row 2: the probabilities sum to 1.2, not 1"),
    ],
)
def test_make_run_refuses_rows_that_are_not_probabilities(row: int, column: int, value: float, says: str) -> None:
    probs = GOOD.copy()
    probs[row, column] = value
    with pytest.raises(CornkitError, match=r"probe \(m\), validation rows, " + says):
        _make(probs)
    with pytest.raises(CornkitError, match=r"test rows, row 3"):
        _make(GOOD, np.vstack([np.full(3, 1 / 3), probs[row]]))


def test_a_wrong_shape_is_a_one_line_error_not_a_value_error() -> None:
    with pytest.raises(CornkitError, match=r"shape \(3, 2\), expected \(3, 3\)"):
        _make(GOOD[:, :2])


def _saved(work: Path) -> Path:
    run = _make(GOOD)
    return save_run(run, work)


def test_labels_are_read_back_verbatim(tmp_path: Path) -> None:
    run = load_run(_saved(tmp_path), tmp_path)
    assert list(run.val_labels) == ["a", "b", "01"] and run.metrics["val_accuracy"] == 1.0


@pytest.mark.parametrize(("cell", "says"), [("nan", "is nan"), ("inf", "is inf"), ("-0.1", "negative"), ("0.4", "sum to"), ("x", "'x' is not a number")])
def test_a_damaged_run_file_is_named_with_row_and_column(tmp_path: Path, cell: str, says: str) -> None:
    path = _saved(tmp_path)
    frame = pd.read_csv(path / "test_probs.csv", dtype=str)
    frame.loc[1, "b"] = cell
    frame.to_csv(path / "test_probs.csv", index=False)
    with pytest.raises(CornkitError, match=rf"Run {path.name}, .*test_probs.csv, row 3.*{says}"):
        load_run(path, tmp_path)


def test_submit_and_score_refuse_a_nan_run_in_one_line(clip_work, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, split, _, _ = clip_work
    rows = split.validation_rows()
    k = len(dataset.classes)
    run = make_run(
        approach="oracle", model="m", classes=dataset.classes, split=rows, val_probs=np.full((len(rows.ids), k), 1 / k),
        test_ids=dataset.ids("test"), test_probs=np.full((len(dataset.test), k), 1 / k), config={}, seed=0,
    )  # fmt: skip
    path = save_run(run, tmp_path)
    frame = pd.read_csv(path / "test_probs.csv")
    frame[list(dataset.classes)] = np.nan
    frame.to_csv(path / "test_probs.csv", index=False)
    for command in (["submit", str(path), "--submissions", str(tmp_path / "subs")], ["score", str(path)]):
        assert main([*command, "--data", str(dataset.root), "--work", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "test_probs.csv, row 2" in err and "Traceback" not in err
    assert not (tmp_path / "subs").exists() or not list((tmp_path / "subs").glob("*.csv"))


def test_metrics_without_val_accuracy_is_named_not_a_key_error(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    (path / "metrics.json").write_text(json.dumps({"n_val": 3}))
    with pytest.raises(CornkitError, match=r"metrics.json has no val_accuracy"):
        load_run(path, tmp_path)


def test_save_run_refuses_a_run_changed_after_make_run(tmp_path: Path) -> None:
    run = _make(GOOD)
    run.test.loc[0, "a"] = np.nan
    with pytest.raises(CornkitError, match=r"test rows, row 2, column 'a': the probability is nan .*Nothing was written"):
        save_run(run, tmp_path)
    assert not (tmp_path / "runs" / run.run_id).exists()

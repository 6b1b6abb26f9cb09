"""Submissions: exactly the sample's ids in order, known labels, atomic, never overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import validation_rows
from cornkit.errors import CornkitError
from cornkit.kaggle.submission import read_ledger, validate_submission, write_submission
from cornkit.locks import LOCK_DIR
from cornkit.runs.run import Run, load_run, make_run, save_run


def _run(dataset, split, test_probs: np.ndarray, tag: str = "a") -> Run:
    val_ids = split.evaluation_ids()
    labels = split.frame.set_index("seed_id").loc[val_ids, "label"].to_numpy()
    val_probs = np.eye(len(dataset.classes))[[dataset.classes.index(c) for c in labels]]
    return make_run(
        approach="oracle",
        model=tag,
        classes=dataset.classes,
        split=validation_rows(val_ids, labels, split.split_id),
        val_probs=val_probs,
        test_ids=dataset.ids("test")[::-1],
        test_probs=test_probs[::-1],
        config={},
        seed=0,
    )


def test_submission_has_sample_ids_in_order_and_argmax_labels(clip_work, tmp_path: Path) -> None:
    dataset, split, work, _ = clip_work
    probs = np.random.default_rng(0).dirichlet(np.ones(len(dataset.classes)), size=len(dataset.test))
    run = _run(dataset, split, probs)
    save_run(run, work)
    submission = write_submission(load_run(run.run_id, work), dataset, tmp_path)
    written = pd.read_csv(submission.path, dtype=str)
    assert list(written.columns) == ["seed_id", "label"]
    assert list(written["seed_id"]) == list(dataset.sample_submission["seed_id"])
    expected = dict(zip(dataset.ids("test"), np.asarray(dataset.classes)[probs.argmax(axis=1)], strict=True))
    assert list(written["label"]) == [expected[i] for i in written["seed_id"]]
    ledger = read_ledger(tmp_path)
    assert ledger.iloc[-1]["run_id"] == run.run_id and ledger.iloc[-1]["file"] == submission.path.name
    assert ledger.iloc[-1]["val_accuracy"] == 1.0


def test_existing_submission_is_never_overwritten(clip_work, tmp_path: Path) -> None:
    dataset, split, _, _ = clip_work
    probs = np.tile(np.eye(len(dataset.classes))[0], (len(dataset.test), 1))
    run = _run(dataset, split, probs)
    first = write_submission(run, dataset, tmp_path)
    assert first.created and not write_submission(run, dataset, tmp_path).created
    assert len(read_ledger(tmp_path)) == 1
    other = _run(dataset, split, np.roll(probs, 1, axis=1))
    other.run_id = run.run_id
    with pytest.raises(CornkitError, match="already exists with other predictions; it is never overwritten"):
        write_submission(other, dataset, tmp_path)
    assert pd.read_csv(first.path)["label"].eq(dataset.classes[0]).all()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != LOCK_DIR) == sorted([first.path.name, "ledger.csv"])


def test_a_submission_without_its_ledger_row_gets_it_on_the_next_call(clip_work, tmp_path: Path) -> None:
    """A run cut short after the file but before the ledger row must not leave an unrecorded submission."""
    dataset, split, _, _ = clip_work
    run = _run(dataset, split, np.tile(np.eye(len(dataset.classes))[1], (len(dataset.test), 1)))
    first = write_submission(run, dataset, tmp_path)
    (tmp_path / "ledger.csv").unlink()
    again = write_submission(run, dataset, tmp_path)
    assert not again.created and again.recorded and again.path == first.path
    assert not write_submission(run, dataset, tmp_path).recorded
    assert list(read_ledger(tmp_path)["file"]) == [first.path.name]


def test_run_for_other_test_data_is_refused_before_writing(clip_work, tmp_path: Path) -> None:
    dataset, split, _, _ = clip_work
    run = _run(dataset, split, np.full((len(dataset.test), len(dataset.classes)), 0.25))
    run.test = run.test.iloc[1:]
    with pytest.raises(CornkitError, match=r"no test prediction for 1 id\(s\)"):
        write_submission(run, dataset, tmp_path)
    assert not tmp_path.exists() or [p for p in tmp_path.iterdir() if p.name != LOCK_DIR] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[::-1].reset_index(drop=True), r"row 2, column 'seed_id'.*in its order"),
        (lambda f: f.iloc[:-1], r"\d+ rows, expected \d+"),
        (lambda f: f.assign(label=["mouldy", *list(f.label[1:])]), r"row 2, column 'label': 'mouldy' is not one of"),
        (lambda f: f.rename(columns={"label": "class"}), r"columns \['seed_id', 'class'\], expected \['seed_id', 'label'\]"),
    ],
)
def test_validator_names_the_bad_row(clip_work, change, message: str) -> None:
    dataset = clip_work[0]
    good = dataset.sample_submission.copy()
    validate_submission(good, dataset.sample_submission, dataset.classes, id_column=dataset.id_column)
    with pytest.raises(CornkitError, match=message):
        validate_submission(change(good), dataset.sample_submission, dataset.classes, id_column=dataset.id_column)


@pytest.mark.slow
def test_same_inputs_and_seeds_give_the_same_submission_bytes(corn_dir: Path, tmp_path: Path) -> None:
    from cornkit.clip.model import TINY_MODEL
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import make_split
    from cornkit.heads.registry import run_head

    outputs = []
    for attempt in ("first", "second"):
        dataset = load_dataset(corn_dir)
        work = tmp_path / attempt
        run = run_head("probe", dataset, make_split(dataset, work), work, model=TINY_MODEL, pretrained="none", workers=0, cs="1,100", cv_folds=3)
        outputs.append(((run.path / "val_probs.csv").read_bytes(), write_submission(run, dataset, work / "subs").path.read_bytes()))
    assert outputs[0] == outputs[1]


def test_a_damaged_ledger_is_recovered_without_losing_a_row(clip_work, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Zero bytes, then a garbage line: the damaged file is kept, every readable row and every submission file keeps its row."""
    dataset, split, _, _ = clip_work
    runs = [_run(dataset, split, np.tile(np.eye(len(dataset.classes))[k], (len(dataset.test), 1)), tag=f"m{k}") for k in range(3)]
    first = write_submission(runs[0], dataset, tmp_path)
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(b"")
    second = write_submission(runs[1], dataset, tmp_path)
    assert "ledger.csv was damaged (it is empty (zero bytes))" in capsys.readouterr().err
    assert sorted(read_ledger(tmp_path)["file"]) == sorted([first.path.name, second.path.name])
    good = ledger.read_text()
    ledger.write_text(good + '"unclosed,quote\n' + good.splitlines()[-1] + "\n")
    write_submission(runs[2], dataset, tmp_path)
    recovered = read_ledger(tmp_path)
    assert sorted(set(recovered["run_id"])) == sorted(run.run_id for run in runs)
    kept = sorted(p.name for p in tmp_path.glob("ledger-damaged-*.csv"))
    assert len(kept) == 2 and (tmp_path / kept[0]).read_bytes() == b""


def test_a_run_file_that_repeats_a_row_is_refused_in_one_line(clip_work) -> None:
    dataset, split, work, _ = clip_work
    run = _run(dataset, split, np.full((len(dataset.test), len(dataset.classes)), 0.25), tag="repeat")
    path = save_run(run, work)
    lines = (path / "test_probs.csv").read_text().splitlines()
    (path / "test_probs.csv").write_text("\n".join([*lines, lines[3]]) + "\n")
    with pytest.raises(CornkitError, match=rf"test_probs.csv, row {len(lines) + 1}, column 'seed_id': id '\d+' repeats row 4. The Run is damaged"):
        load_run(run.run_id, work)

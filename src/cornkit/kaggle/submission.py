"""Turn a Run into a ``submission.csv`` Kaggle will accept, and keep a ledger of them.

A submission has exactly the ids of ``sample_submission.csv``, in its order, its columns, and
the kind of value it asks for (:mod:`cornkit.data.submission_format`): a known class, one
probability per class summing to 1, or the positive class's probability, the probabilities
kept away from 0 and 1. It is checked before it is written, written under a temporary name and
linked into place, so ``submissions/`` never holds a half file, and an existing submission is
never overwritten. ``submissions/ledger.csv`` records which Run made which file, so the
leaderboard can join Kaggle's scores back to local validation (:mod:`.ledger`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..data.dataset import Dataset
from ..data.submission_format import SubmissionFormat
from ..errors import CornkitError
from ..locks import locked
from ..metric_names import DEFAULT_METRIC
from ..runs.run import Run
from .ledger import LEDGER, append_ledger, read_ledger

Decide = Callable[[np.ndarray], np.ndarray]
"""Class names for rows of probabilities: how a label submission decides."""


@dataclass(frozen=True)
class Submission:
    """A written submission file, whether this call created it and whether it added the ledger row."""

    path: Path
    run_id: str
    created: bool
    recorded: bool

    def state(self) -> str:
        """What this call did, for the user."""
        if self.created:
            return "written and recorded in the ledger"
        if self.recorded:
            return "already there with the same predictions; its missing ledger row was added"
        return "already there with the same predictions"


PROBABILITY_FLOOR = 1e-6
"""Submitted probabilities are kept this far from 0 and 1 (then renormalised): a confident mistake
costs log loss without bound, a floor of 1e-6 costs at most about 14 per row and a right answer about 4e-6."""


def validate_submission(
    frame: pd.DataFrame,
    sample: pd.DataFrame,
    classes: Sequence[str],
    *,
    id_column: str,
    label_column: str = "label",
    source: str = "submission",
    submission_format: SubmissionFormat | None = None,
) -> None:
    """Raise unless ``frame`` has the sample's columns, its ids in its order, and values of the sample's kind.

    A label is a known class; a probability is a number in [0, 1]; one probability column per
    class sums to 1 on every row.
    """
    submission_format = submission_format or SubmissionFormat("label", (label_column,))
    expected_columns = list(sample.columns)
    if list(frame.columns) != expected_columns:
        raise CornkitError(f"{source}: columns {list(frame.columns)}, expected {expected_columns} (as in sample_submission.csv).")
    if len(frame) != len(sample):
        raise CornkitError(f"{source}: {len(frame)} rows, expected {len(sample)} (one per row of sample_submission.csv).")
    ids = frame[id_column].astype(str).to_numpy()
    mismatch = (ids != sample[id_column].astype(str).to_numpy()).nonzero()[0]
    if len(mismatch):
        i = int(mismatch[0])
        raise CornkitError(
            f"{source}, row {i + 2}, column {id_column!r}: id {frame[id_column].iloc[i]!r}, expected "
            f"{sample[id_column].iloc[i]!r} (ids must be those of sample_submission.csv, in its order)."
        )
    if submission_format.kind == "label":
        column = submission_format.value_columns[0]
        labels = frame[column].astype(str)
        unknown = (~labels.isin(list(classes)) | frame[column].isna()).to_numpy().nonzero()[0]
        if len(unknown):
            i = int(unknown[0])
            raise CornkitError(f"{source}, row {i + 2}, column {column!r}: {frame[column].iloc[i]!r} is not one of {list(classes)}.")
        return
    values = frame[list(submission_format.value_columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        i, k = (int(n[0]) for n in bad.nonzero())
        column = submission_format.value_columns[k]
        raise CornkitError(f"{source}, row {i + 2}, column {column!r}: {frame[column].iloc[i]!r} is not a probability in [0, 1].")
    if submission_format.kind == "probabilities":
        off = (np.abs(values.sum(axis=1) - 1) > 1e-6).nonzero()[0]
        if len(off):
            i = int(off[0])
            raise CornkitError(f"{source}, row {i + 2}: the probabilities sum to {values[i].sum():.6f}, not 1.")


def validate_for_dataset(frame: pd.DataFrame, dataset: Dataset, source: str) -> None:
    """``validate_submission`` against ``dataset``'s sample submission, classes, column names and submission format."""
    validate_submission(
        frame,
        dataset.sample_submission,
        dataset.classes,
        id_column=dataset.id_column,
        source=source,
        submission_format=dataset.submission_format,
    )


def build_submission(run: Run, dataset: Dataset) -> pd.DataFrame:
    """The submission table of ``run``: the sample's ids in its order, each with the value the sample asks for."""
    if set(run.classes) != set(dataset.classes):
        raise CornkitError(f"Run {run.run_id} predicts classes {list(run.classes)}, but {dataset.root} has {list(dataset.classes)}: wrong --data?")
    return submission_frame(run.test_ids, run.test_probs, run.classes, dataset, f"Run {run.run_id}", decide=run.predict_labels)


def floored(probs: np.ndarray) -> np.ndarray:
    """Probabilities at least :data:`PROBABILITY_FLOOR` (and so at most 1 minus the rest), each row summing to 1."""
    probs = np.maximum(np.asarray(probs, dtype=np.float64), PROBABILITY_FLOOR)
    return probs / probs.sum(axis=1, keepdims=True)


def submission_values(probs: np.ndarray, classes: Sequence[str], submission_format: SubmissionFormat, decide: Decide | None = None) -> pd.DataFrame:
    """The value columns of a submission of ``probs`` (columns in ``classes`` order), in ``submission_format``'s kind and column order.

    A label column holds ``decide(probs)`` (a Run's :meth:`~cornkit.runs.run.Run.predict_labels`), the most probable class by default.
    """
    classes = [str(c) for c in classes]
    columns = list(submission_format.value_columns)
    if submission_format.kind == "label":
        labels = decide(np.asarray(probs)) if decide is not None else np.asarray(classes)[np.asarray(probs).argmax(axis=1)]
        return pd.DataFrame({columns[0]: labels})
    kept = floored(probs)
    if submission_format.kind == "positive-probability":
        return pd.DataFrame({columns[0]: kept[:, classes.index(submission_format.column_classes[0])]})
    return pd.DataFrame({column: kept[:, classes.index(name)] for column, name in zip(columns, submission_format.column_classes, strict=True)})


def submission_frame(ids: np.ndarray, probs: np.ndarray, classes: Sequence[str], dataset: Dataset, source: str, decide: Decide | None = None) -> pd.DataFrame:
    """The sample submission's ids in its order, each with the value the sample asks for from (``ids``, ``probs``); checked."""
    id_col = dataset.id_column
    position = pd.Series(np.arange(len(ids)), index=ids)
    sample = dataset.sample_submission
    missing = sorted(set(sample[id_col]) - set(position.index))
    if missing:
        raise CornkitError(
            f"{source} has no test prediction for {len(missing)} id(s) of sample_submission.csv (e.g. {missing[0]}): "
            "it was made from other test data; make it again with this --data."
        )
    rows = np.asarray(probs)[position.reindex(sample[id_col]).to_numpy()]
    values = submission_values(rows, classes, dataset.submission_format, decide)
    frame = pd.concat([sample[[id_col]].reset_index(drop=True), values], axis=1)[list(sample.columns)]
    validate_for_dataset(frame, dataset, f"submission of {source}")
    return frame


def write_submission(run: Run, dataset: Dataset, submissions: str | Path = "submissions") -> Submission:
    """Write ``submissions/<run-id>.csv`` and its ledger row; never overwrite a different file."""
    frame = build_submission(run, dataset)
    score = run.metrics.get(f"val_{run.metric}", np.nan)
    return record_submission(frame, run.run_id, run.approach, run.model, float(run.metrics["val_accuracy"]), submissions, (run.metric, float(score)))


def record_submission(
    frame: pd.DataFrame,
    run_id: str,
    approach: str,
    model: str,
    val_accuracy: float,
    submissions: str | Path = "submissions",
    metric: tuple[str, float] = (DEFAULT_METRIC, np.nan),
) -> Submission:
    """Write a checked submission table as ``submissions/<run-id>.csv`` with its ledger row.

    Also used for submissions made elsewhere (a Kaggle kernel's output), whose Run is not local.
    The same bytes again is a no-op, except that a missing ledger row (a run cut short between
    the file and the ledger) is added; different bytes under the same run id are refused.
    The whole step holds the ledger's lock, so concurrent submissions all keep their rows. ``metric`` is the
    competition's metric and the Run's validation score by it, recorded beside the accuracy.
    """
    with locked(Path(submissions) / LEDGER, f"record the submission of {run_id}"):
        return _record_locked(frame, run_id, approach, model, val_accuracy, submissions, metric)


def _record_locked(
    frame: pd.DataFrame, run_id: str, approach: str, model: str, val_accuracy: float, submissions: str | Path, metric: tuple[str, float]
) -> Submission:
    target = Path(submissions) / f"{run_id}.csv"
    content = frame.to_csv(index=False, lineterminator="\n").encode()
    created = not target.exists()
    if not created and target.read_bytes() != content:
        raise CornkitError(f"{target} already exists with other predictions; it is never overwritten. Move it away first.")
    if created:
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_bytes(content)
    ledger = read_ledger(submissions)
    recorded = target.name not in set(ledger["file"].astype(str))
    if recorded:
        append_ledger(
            submissions,
            ledger,
            {
                "run_id": run_id,
                "file": target.name,
                "approach": approach,
                "model": model,
                "val_accuracy": round(float(val_accuracy), 6),
                "metric": metric[0],
                "val_metric": round(float(val_accuracy if metric[0] == DEFAULT_METRIC else metric[1]), 6),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    return Submission(path=target, run_id=run_id, created=created, recorded=recorded)

"""Turn a Run into a ``submission.csv`` Kaggle will accept, and keep a ledger of them.

A submission has exactly the ids of ``sample_submission.csv``, in its order, and one known
class per row. It is checked before it is written, written under a temporary name and
linked into place, so ``submissions/`` never holds a half file, and an existing submission is
never overwritten. ``submissions/ledger.csv`` records which Run made which file, so the
leaderboard can join Kaggle's scores back to local validation (:mod:`.ledger`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..data.dataset import Dataset
from ..errors import CornkitError
from ..locks import locked
from ..runs.run import Run
from .ledger import LEDGER, append_ledger, read_ledger


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


def validate_submission(
    frame: pd.DataFrame, sample: pd.DataFrame, classes: Sequence[str], *, id_column: str, label_column: str = "label", source: str = "submission"
) -> None:
    """Raise unless ``frame`` has the sample's columns, its ids in its order, and known labels."""
    expected_columns = list(sample.columns)
    if list(frame.columns) != expected_columns:
        raise CornkitError(f"{source}: columns {list(frame.columns)}, expected {expected_columns} (as in sample_submission.csv).")
    if len(frame) != len(sample):
        raise CornkitError(f"{source}: {len(frame)} rows, expected {len(sample)} (one per row of sample_submission.csv).")
    ids = pd.to_numeric(frame[id_column], errors="coerce")
    mismatch = (ids.to_numpy() != sample[id_column].to_numpy()).nonzero()[0]
    if len(mismatch):
        i = int(mismatch[0])
        raise CornkitError(
            f"{source}, row {i + 2}, column {id_column!r}: id {frame[id_column].iloc[i]!r}, expected "
            f"{sample[id_column].iloc[i]} (ids must be those of sample_submission.csv, in its order)."
        )
    labels = frame[label_column].astype(str)
    unknown = (~labels.isin(list(classes)) | frame[label_column].isna()).to_numpy().nonzero()[0]
    if len(unknown):
        i = int(unknown[0])
        raise CornkitError(f"{source}, row {i + 2}, column {label_column!r}: {frame[label_column].iloc[i]!r} is not one of {list(classes)}.")


def validate_for_dataset(frame: pd.DataFrame, dataset: Dataset, source: str) -> None:
    """``validate_submission`` against ``dataset``'s sample submission, classes and column names."""
    validate_submission(
        frame,
        dataset.sample_submission,
        dataset.classes,
        id_column=dataset.id_column,
        label_column=dataset.config.label_column,
        source=source,
    )


def build_submission(run: Run, dataset: Dataset) -> pd.DataFrame:
    """The submission table of ``run``: the sample's ids in its order, the predicted class of each."""
    if set(run.classes) != set(dataset.classes):
        raise CornkitError(f"Run {run.run_id} predicts classes {list(run.classes)}, but {dataset.root} has {list(dataset.classes)}: wrong --data?")
    return submission_frame(run.test_ids, run.test_predictions(), dataset, f"Run {run.run_id}")


def submission_frame(ids: np.ndarray, labels: np.ndarray, dataset: Dataset, source: str) -> pd.DataFrame:
    """The sample submission's ids in its order, each with its predicted class from (``ids``, ``labels``); checked."""
    id_col, label_col = dataset.id_column, dataset.config.label_column
    predicted = pd.Series(labels, index=ids)
    sample = dataset.sample_submission
    missing = sorted(set(sample[id_col]) - set(predicted.index))
    if missing:
        raise CornkitError(
            f"{source} has no test prediction for {len(missing)} id(s) of sample_submission.csv (e.g. {missing[0]}): "
            "it was made from other test data; make it again with this --data."
        )
    frame = sample[[id_col]].copy()
    frame[label_col] = predicted.reindex(sample[id_col]).to_numpy()
    frame = frame[list(sample.columns)]
    validate_for_dataset(frame, dataset, f"submission of {source}")
    return frame


def write_submission(run: Run, dataset: Dataset, submissions: str | Path = "submissions") -> Submission:
    """Write ``submissions/<run-id>.csv`` and its ledger row; never overwrite a different file."""
    frame = build_submission(run, dataset)
    return record_submission(frame, run.run_id, run.approach, run.model, float(run.metrics["val_accuracy"]), submissions)


def record_submission(frame: pd.DataFrame, run_id: str, approach: str, model: str, val_accuracy: float, submissions: str | Path = "submissions") -> Submission:
    """Write a checked submission table as ``submissions/<run-id>.csv`` with its ledger row.

    Also used for submissions made elsewhere (a Kaggle kernel's output), whose Run is not local.
    The same bytes again is a no-op, except that a missing ledger row (a run cut short between
    the file and the ledger) is added; different bytes under the same run id are refused.
    The whole step holds the ledger's lock, so concurrent submissions all keep their rows.
    """
    with locked(Path(submissions) / LEDGER, f"record the submission of {run_id}"):
        return _record_locked(frame, run_id, approach, model, val_accuracy, submissions)


def _record_locked(frame: pd.DataFrame, run_id: str, approach: str, model: str, val_accuracy: float, submissions: str | Path) -> Submission:
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
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    return Submission(path=target, run_id=run_id, created=created, recorded=recorded)

"""Write what ``cornkit predict`` computed: the probabilities and a submission-shaped CSV, checked and atomic.

For a competition folder the submission is ``sample_submission.csv``'s shape (its ids in its
order, its columns), as ``cornkit submit`` writes it; for a folder of images it is one row per
image, ``image,label``. When the images are the Run's own test set, the new probabilities are
compared with the Run's ``test_probs.csv``: the check that a saved model still predicts what it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, write_csv
from ..heads.predict import Images
from ..runs.checks import check_probabilities
from ..runs.run import Run
from .submission import submission_frame

PREDICTIONS_DIR = "predictions"


@dataclass(frozen=True)
class Predictions:
    """Where the predictions went, and how far they are from the Run's own test probabilities (None: other images)."""

    folder: Path
    max_difference: float | None

    @property
    def probs_path(self) -> Path:
        return self.folder / "test_probs.csv"

    @property
    def submission_path(self) -> Path:
        return self.folder / "submission.csv"


def difference_from_run(run: Run, images: Images, probs: np.ndarray) -> float | None:
    """The largest absolute difference from the Run's ``test_probs.csv`` when ``images`` are exactly its test rows."""
    if images.dataset is None or sorted(map(str, images.ids)) != sorted(map(str, run.test_ids)):
        return None
    own = run.test.set_index(run.id_column).loc[images.ids.astype(str), list(run.classes)].to_numpy(dtype=np.float64)
    return float(np.abs(own - probs).max()) if len(probs) else 0.0


def write_predictions(run: Run, images: Images, probs: np.ndarray, folder: Path) -> Predictions:
    """``test_probs.csv`` and ``submission.csv`` of ``probs`` in ``folder`` (written whole or not at all)."""
    check_probabilities(probs, run.classes, len(images.ids), f"predictions of Run {run.run_id}", fix="Nothing was written.")
    table = pd.DataFrame(probs, columns=list(run.classes))
    table.insert(0, images.id_column, images.ids)
    if images.dataset is not None:
        submission = submission_frame(images.ids, probs, run.classes, images.dataset, f"predictions of Run {run.run_id}", decide=run.predict_labels)
    else:
        submission = pd.DataFrame({images.id_column: images.ids, "label": run.predict_labels(probs)})
    with atomic_dir(folder) as tmp:
        write_csv(tmp / "test_probs.csv", table)
        write_csv(tmp / "submission.csv", submission)
    return Predictions(folder, difference_from_run(run, images, probs))

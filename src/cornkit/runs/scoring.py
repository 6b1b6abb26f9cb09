"""Local, offline scoring of a Run on the validation split: numbers and pictures.

``score_run`` writes into the Run folder: ``report.txt`` (the competition's metric with its
95 % interval first, then accuracy, balanced accuracy, scikit-learn's per-class table), ``confusion.png`` and ``misclassified.png`` (a contact sheet
of wrongly predicted validation images, true and predicted label under each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..data.dataset import Dataset
from ..data.images import read_image
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..plots import confusion_png, contact_sheet_png
from .competition_metric import get_metric
from .intervals import metric_interval
from .metrics import confusion, report_text
from .run import Run


@dataclass(frozen=True)
class ScoreReport:
    """What ``score_run`` measured and where it put the files."""

    metrics: dict[str, Any]
    text: str
    report_path: Path
    confusion_path: Path
    misclassified_path: Path


def score_run(run: Run, dataset: Dataset, *, max_images: int = 24, seed: int = DEFAULT_SEED) -> ScoreReport:
    """Score ``run`` on its validation rows and write the report and pictures into its folder."""
    if run.path is None:
        raise ValueError("save the Run before scoring it")
    labels, predictions = run.val_labels, run.val_predictions()
    metric = get_metric(run.metric)
    value = metric.score(labels, run.val_probs, run.classes)  # from the probabilities: a Run made before val_<metric> was recorded too
    low, high = metric_interval(run.metric, labels, run.val_probs, run.classes, seed=seed)
    direction = "higher" if metric.greater_is_better else "lower"
    text = (
        f"{run.metric}: {value:.4f} (95 % interval {low:.4f} to {high:.4f}; the competition's metric, {direction} is better)\n"
        f"Run {run.run_id} ({run.approach}, {run.model})\n"
        f"validation rows: {len(labels)}\n"
        f"accuracy:          {run.metrics['val_accuracy']:.4f}\n"
        f"balanced accuracy: {run.metrics['val_balanced_accuracy']:.4f}\n\n"
        f"{report_text(labels, predictions, run.classes)}"
    )
    report_path = write_text(run.path / "report.txt", text)
    confusion_path = confusion_png(
        confusion(labels, predictions, run.classes),
        run.classes,
        run.path / "confusion.png",
        f"{run.run_id}\nvalidation accuracy {run.metrics['val_accuracy']:.3f}",
    )
    wrong = np.flatnonzero(labels != predictions)
    shown = np.sort(np.random.default_rng(seed).permutation(wrong)[:max_images])
    image_of = dict(zip(dataset.ids("train"), dataset.image_paths("train"), strict=True))
    ids = run.val_ids
    missing = [str(ids[i]) for i in shown if str(ids[i]) not in image_of]
    if missing:
        raise CornkitError(f"Run {run.run_id} has validation ids not in {dataset.root / 'train.csv'} (e.g. {missing[0]}): wrong --data?")
    misclassified_path = contact_sheet_png(
        [read_image(image_of[str(ids[i])], "misclassified contact sheet") for i in shown],
        [f"{ids[i]}\ntrue {labels[i]}\npred {predictions[i]}" for i in shown],
        run.path / "misclassified.png",
        f"{len(wrong)} of {len(labels)} validation images misclassified (showing {len(shown)})",
    )
    return ScoreReport(run.metrics, text, report_path, confusion_path, misclassified_path)


def solution_accuracy(run: Run, solution_csv: str | Path) -> dict[str, float]:
    """Accuracy of ``run``'s test predictions against a solution file (the synthetic set's).

    Only a synthetic set has one; on a real competition the test labels are Kaggle's secret.
    With a ``Usage`` column the public and private parts are scored separately, as Kaggle does.
    """
    solution = pd.read_csv(solution_csv, dtype=str, keep_default_na=False)  # ids and labels verbatim
    predicted = pd.Series(run.test_predictions(), index=run.test_ids)
    correct = solution["label"].astype(str).to_numpy() == predicted.reindex(solution[run.id_column]).to_numpy()
    scores = {"all": float(correct.mean())}
    if "Usage" in solution.columns:
        for usage in ("Public", "Private"):
            rows = (solution["Usage"] == usage).to_numpy()
            if rows.any():
                scores[usage.lower()] = float(correct[rows].mean())
    return scores

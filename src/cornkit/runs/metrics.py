"""Validation metrics, computed the same way for every Run (scikit-learn does the counting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix

Labels = Sequence[str] | npt.NDArray[Any]
"""Class names, one per row (a list or a numpy array)."""


def classification_metrics(labels: Labels, predictions: Labels, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy (the competition metric), balanced accuracy and per-class recall.

    Balanced accuracy sits beside accuracy because the classes are imbalanced: a head that
    predicts the majority class scores well on accuracy alone.
    """
    truth, predicted = np.asarray(labels), np.asarray(predictions)
    recall = {}
    for name in classes:
        rows = truth == name
        recall[name] = float((predicted[rows] == name).mean()) if rows.any() else float("nan")
    return {
        "val_accuracy": float(accuracy_score(labels, predictions)),
        "val_balanced_accuracy": float(balanced_accuracy_score(labels, predictions)) if len(labels) else float("nan"),
        "n_val": len(labels),
        "val_recall": recall,
    }


def report_text(labels: Labels, predictions: Labels, classes: Sequence[str]) -> str:
    """scikit-learn's per-class precision/recall/F1 table, with every class listed."""
    return classification_report(labels, predictions, labels=list(classes), digits=4, zero_division=0)


def confusion(labels: Labels, predictions: Labels, classes: Sequence[str]) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes, both in ``classes`` order."""
    return confusion_matrix(labels, predictions, labels=list(classes))

"""The competition's metric: every name in :data:`~cornkit.metric_names.METRIC_NAMES`, computed by scikit-learn.

A Kaggle competition scores by one metric; the split records which (``cornkit split --metric``),
every Run's ``metrics.json`` holds ``val_<metric>``, and the heads that choose a setting on the
training rows (the probe's C) choose it by this metric in its direction. Each :class:`Metric`
takes the true labels as class names, the probabilities with one column per class in
``classes`` order, and ``classes``; the argmax metrics read the predicted class from the
probabilities, so a Run's metric is always a function of its ``val_probs.csv``.

``sample_weight`` (scikit-learn's, counts per row) is how a bootstrap resample is scored
without copying rows (:func:`cornkit.runs.intervals.metric_interval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, f1_score, log_loss, roc_auc_score

from ..metric_names import check_metric_classes, check_metric_name, positive_class

Weights = npt.NDArray[Any] | None
Score = Callable[[np.ndarray, np.ndarray, Sequence[str], Weights], float]


def _predicted(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    return np.asarray(classes)[np.asarray(probs).argmax(axis=1)]


def _sorted_columns(probs: np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Columns in sorted class order: scikit-learn's ``log_loss`` and ``roc_auc_score`` read probability columns that way."""
    order = np.argsort(np.asarray(classes))
    return np.asarray(probs)[:, order], [str(classes[k]) for k in order]


def integer_order(classes: Sequence[str]) -> list[str]:
    """The classes in numeric order, for quadratic kappa (a one-line error when a class is not an integer)."""
    check_metric_classes("quadratic_kappa", classes)
    return sorted(classes, key=lambda c: int(str(c)))


def _accuracy(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    return float(accuracy_score(labels, _predicted(probs, classes), sample_weight=weights))


def _balanced_accuracy(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    return float(balanced_accuracy_score(labels, _predicted(probs, classes), sample_weight=weights))


def _f1(average: str) -> Score:
    def score(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
        return float(f1_score(labels, _predicted(probs, classes), average=average, sample_weight=weights, zero_division=0))

    return score


def _log_loss(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    columns, names = _sorted_columns(probs, classes)
    # Rows computed in float32 miss 1 by more than log_loss tolerates (it warns); rescaling moves the score by under 1e-6.
    columns = columns / columns.sum(axis=1, keepdims=True)
    return float(log_loss(labels, columns, labels=names, sample_weight=weights))


def _roc_auc(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    if len(classes) != 2:
        raise ValueError(f"roc_auc scores two classes, got {len(classes)}")
    positive = positive_class(classes)
    return float(roc_auc_score(np.asarray(labels) == positive, np.asarray(probs)[:, list(classes).index(positive)], sample_weight=weights))


def _roc_auc_ovr(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    """Kaggle's "mean column-wise ROC AUC": scikit-learn's macro average over the one-vs-rest indicator columns."""
    indicator = (np.asarray(labels)[:, None] == np.asarray(classes)[None, :]).astype(int)
    return float(roc_auc_score(indicator, probs, average="macro", sample_weight=weights))


def kappa_of_labels(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str], weights: Weights = None) -> float:
    """Cohen's kappa with quadratic weights of predicted class names, the classes in numeric order."""
    return float(cohen_kappa_score(labels, predicted, labels=integer_order(classes), weights="quadratic", sample_weight=weights))


def _quadratic_kappa(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], weights: Weights) -> float:
    return kappa_of_labels(labels, _predicted(probs, classes), classes, weights)


@dataclass(frozen=True)
class Metric:
    """One competition metric: how scikit-learn computes it, which way is better, and whether it is a mean of per-row 0/1."""

    name: str
    compute: Score
    sklearn: str
    """The scikit-learn function behind it (the README's table, the score report)."""
    greater_is_better: bool = True
    per_row: bool = False
    """The mean of a per-row right/wrong (accuracy): a Wilson interval applies instead of a bootstrap."""

    def score(self, labels: npt.ArrayLike, probs: npt.ArrayLike, classes: Sequence[str], sample_weight: Weights = None) -> float:
        """The metric of ``probs`` (columns in ``classes`` order) against the true class names ``labels``."""
        return self.compute(np.asarray(labels).astype(str), np.asarray(probs, dtype=np.float64), [str(c) for c in classes], sample_weight)

    def scorer(self, classes: Sequence[str]) -> Callable[[Any, np.ndarray, np.ndarray], float]:
        """A scikit-learn ``scoring`` callable for an estimator fitted on indices into ``classes`` (every class in its training rows).

        Higher is better, as scikit-learn's searches maximise: a lower-is-better metric is negated
        (``neg_log_loss``'s convention), so :meth:`from_scorer` turns a search's score back.
        """
        names = np.asarray(classes)

        def score(estimator: Any, features: np.ndarray, labels: np.ndarray) -> float:
            probs = np.asarray(estimator.predict_proba(features), dtype=np.float64)
            value = self.score(names[np.asarray(labels)], probs, classes)
            return value if self.greater_is_better else -value

        return score

    def from_scorer(self, value: float) -> float:
        """The metric itself from a :meth:`scorer` value."""
        return value if self.greater_is_better else -value


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("accuracy", _accuracy, "accuracy_score", per_row=True),
        Metric("balanced_accuracy", _balanced_accuracy, "balanced_accuracy_score"),
        Metric("f1_macro", _f1("macro"), "f1_score(average='macro')"),
        Metric("f1_micro", _f1("micro"), "f1_score(average='micro')", per_row=True),
        Metric("log_loss", _log_loss, "log_loss", greater_is_better=False),
        Metric("roc_auc", _roc_auc, "roc_auc_score (positive class's probability)"),
        Metric("roc_auc_ovr", _roc_auc_ovr, "roc_auc_score(average='macro') on one-vs-rest columns"),
        Metric("quadratic_kappa", _quadratic_kappa, "cohen_kappa_score(weights='quadratic')"),
    )
}


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (a one-line error listing the names for any other)."""
    return METRICS[check_metric_name(name)]

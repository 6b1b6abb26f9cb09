"""The competition metrics cornkit scores by, by name only.

The split records which metric the competition uses (``cornkit split --metric``), and the split
lives in the data layer, below the scikit-learn computations in :mod:`cornkit.runs.competition_metric`;
so the names, the default and the check of a name live here, where every layer can read them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import CornkitError

METRIC_NAMES: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro", "f1_micro", "log_loss", "roc_auc", "roc_auc_ovr", "quadratic_kappa")
DEFAULT_METRIC = "accuracy"
"""It's Corn's metric; a split made before the metric was recorded scores by it."""
POSITIVE_NAMES = ("1", "true", "yes")
"""Two-class labels read as the positive class (case-insensitive); otherwise the last class in sorted order is."""


def positive_class(classes: Sequence[str]) -> str:
    """The positive class of a two-class competition: ``1``, ``True`` or ``yes`` if one is a class, else the last in sorted order.

    Here, not with the scores, because the submission's single probability column (data layer)
    and ``roc_auc`` (runs layer) must name the same class.
    """
    named = [c for c in classes if str(c).strip().lower() in POSITIVE_NAMES]
    return str(named[0]) if named else str(sorted(classes)[-1])


def check_metric_name(name: str) -> str:
    """``name`` if cornkit knows that metric, else a one-line error listing the ones it does."""
    if name not in METRIC_NAMES:
        raise CornkitError(f"--metric {name!r}: not a metric cornkit knows; give one of {', '.join(METRIC_NAMES)}.")
    return name


def check_metric_classes(name: str, classes: Sequence[str]) -> None:
    """Refuse, before anything is split or fitted, a metric this set's classes cannot be scored by."""
    if name == "roc_auc" and len(classes) != 2:
        raise CornkitError(f"--metric roc_auc scores two classes, this set has {len(classes)}; give --metric roc_auc_ovr (mean one-vs-rest AUC).")
    if name == "quadratic_kappa" and not all(str(c).strip().lstrip("+-").isdigit() for c in classes):
        raise CornkitError(f"--metric quadratic_kappa needs integer class labels (ordered ratings), not {list(classes)}; give another --metric.")


KAGGLE_METRICS: dict[str, str] = {
    "categorization accuracy": "accuracy",
    "accuracy": "accuracy",
    "accuracy score": "accuracy",
    "balanced accuracy": "balanced_accuracy",
    "multiclass loss": "log_loss",
    "multi class log loss": "log_loss",
    "log loss": "log_loss",
    "logloss": "log_loss",
    "binary crossentropy": "log_loss",
    "mean f1 score": "f1_micro",
    "micro f1": "f1_micro",
    "f1 score micro": "f1_micro",
    "macro f1": "f1_macro",
    "macrof1": "f1_macro",
    "f1 score macro": "f1_macro",
    "mean column wise area under receiver operating characteristic curve": "roc_auc_ovr",
    "mean columnwise auc": "roc_auc_ovr",
    "area under receiver operating characteristic curve": "roc_auc",
    "auc": "roc_auc",
    "roc auc": "roc_auc",
    "auc roc": "roc_auc",
    "quadratic weighted kappa": "quadratic_kappa",
    "quadratic kappa": "quadratic_kappa",
}
"""Kaggle's evaluation-metric names (as its API reports them, compared lower-case with punctuation as spaces) and the kit's."""


def metric_from_kaggle(evaluation_metric: str, classes: Sequence[str]) -> str | None:
    """The kit's name for the competition's evaluation metric as Kaggle's API names it, or None when the kit does not compute it.

    AUC on more than two classes is the mean one-vs-rest AUC (Kaggle's "mean column-wise ROC AUC").
    """
    key = " ".join("".join(ch if ch.isalnum() else " " for ch in evaluation_metric.lower()).split())
    name = KAGGLE_METRICS.get(key)
    return "roc_auc_ovr" if name == "roc_auc" and len(classes) > 2 else name

"""Temperature scaling for log-loss competitions: probabilities calibrated on held-out rows, honestly.

Log loss punishes confidence more than accuracy rewards it, and the heads' probabilities are
rarely calibrated (a fine-tune is over-confident, a zero-shot head under-confident). Temperature
scaling (Guo et al., 2017) fits one number T on held-out rows and divides the log-probabilities
by it: ``p_T ∝ p^(1/T)``; the class ranking, and so accuracy, is unchanged.

The validation rows are both where T is fitted and where the Run is scored, so T is cross-fitted
like the ensemble weights: each validation row is scaled with the T fitted on the other folds,
and the test rows with the T fitted on every validation row. The scaling is kept only when the
cross-fitted validation log loss is lower than without it, and both numbers are recorded in the
Run's ``metrics.json`` (``temperature``, ``val_log_loss_uncalibrated``), beside the T that
``cornkit predict`` applies to new images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.model_selection import KFold

from .competition_metric import get_metric

CALIBRATED_METRIC = "log_loss"
FOLDS = 5
LOG_T_BOUNDS = (-3.0, 3.0)
"""T between e^-3 (about 0.05: much sharper) and e^3 (about 20: almost uniform)."""
PROBABILITY_EPSILON = 1e-12


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` with their log-probabilities divided by ``temperature`` (rows renormalised; argmax unchanged)."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), PROBABILITY_EPSILON, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> float:
    """The T that minimises the log loss of ``scale(probs, T)`` against ``labels`` (scipy's bounded scalar search on log T)."""
    metric = get_metric(CALIBRATED_METRIC)
    result = minimize_scalar(lambda log_t: metric.score(labels, scale(probs, float(np.exp(log_t))), classes), bounds=LOG_T_BOUNDS, method="bounded")
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Calibrated:
    """The probabilities to record, and what the scaling did (``metrics`` go into the Run's ``metrics.json``)."""

    val_probs: np.ndarray
    test_probs: np.ndarray
    metrics: dict[str, float]


def calibrate(true_labels: Sequence[str] | np.ndarray, classes: Sequence[str], val_probs: np.ndarray, test_probs: np.ndarray, seed: int) -> Calibrated:
    """Temperature-scaled validation (cross-fitted) and test probabilities, or the originals when scaling does not lower the log loss."""
    labels = np.asarray(true_labels)
    metric = get_metric(CALIBRATED_METRIC)
    before = metric.score(labels, val_probs, classes)
    n_folds = min(FOLDS, len(labels))
    if n_folds < 2:
        return Calibrated(val_probs, test_probs, {"temperature": 1.0, "val_log_loss_uncalibrated": before})
    cross_fitted = np.empty_like(np.asarray(val_probs, dtype=np.float64))
    for fit_rows, scaled_rows in KFold(n_folds, shuffle=True, random_state=seed).split(labels):
        cross_fitted[scaled_rows] = scale(val_probs[scaled_rows], fit_temperature(labels[fit_rows], val_probs[fit_rows], classes))
    after = metric.score(labels, cross_fitted, classes)
    if not after < before:
        return Calibrated(val_probs, test_probs, {"temperature": 1.0, "val_log_loss_uncalibrated": before})
    temperature = fit_temperature(labels, val_probs, classes)
    return Calibrated(cross_fitted, scale(test_probs, temperature), {"temperature": temperature, "val_log_loss_uncalibrated": before})

"""Cut points for quadratic-kappa competitions: labels from the expected class, cut where the kappa is highest.

Quadratic kappa scores ordered classes (integer ratings) and charges a wrong label by the square
of its distance from the truth. The habit of such competitions (diabetic retinopathy, PetFinder)
is therefore to predict the expected rating ``E = Σ p_k v_k`` and cut it into classes at tuned
points, rather than to take the most probable class. The kappa is a step function of the cut
points, so a simplex or a gradient stalls on its flats. Here each cut is searched in turn over
quantiles of ``E`` (between its neighbours, starting from the midpoints between ratings), for a
few passes, and every candidate is scored by scikit-learn's ``cohen_kappa_score``.

The cut points are tuned on held-out rows, and the Run is scored on the same rows, so the choice
is cross-fitted like the temperature of a log-loss Run (:mod:`.calibration`). Each validation row
is labelled with cut points fitted on the other folds, and that cross-fitted kappa is recorded
as ``val_quadratic_kappa_cut_points``. The cut points are kept only when it beats the most
probable class's kappa. When they are kept, the Run records ``cut_points`` (fitted on every
validation row) in ``metrics.json``, and every label it submits comes from them: ``cornkit
submit``, ``cornkit predict`` and kernels alike. Its ``val_quadratic_kappa`` stays the most
probable class's, a function of ``val_probs.csv`` alone, and tables rank Runs by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from .competition_metric import get_metric, integer_order, kappa_of_labels

CUT_METRIC = "quadratic_kappa"
CUT_POINTS = "cut_points"
CROSS_FITTED = "val_quadratic_kappa_cut_points"
FOLDS = 5
CANDIDATES = 64
"""Quantiles of the expected rating tried for each cut."""
PASSES = 3
"""Rounds over the cuts; the search stops sooner when a round changes nothing."""


def expected_rating(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """``Σ p_k v_k`` per row, ``v_k`` the integer value of class ``k`` (columns in ``classes`` order)."""
    return np.asarray(probs, dtype=np.float64) @ np.array([int(str(c)) for c in classes], dtype=np.float64)


def labels_at(expected: np.ndarray, cuts: Sequence[float] | np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The class of each expected rating: the ``i``-th class in numeric order when ``i`` cuts lie at or below it."""
    return np.asarray(integer_order(classes))[np.searchsorted(np.asarray(cuts, dtype=np.float64), expected, side="right")]


def fit_cut_points(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> list[float]:
    """The cuts (one fewer than the classes, increasing) whose labels give ``labels`` the highest quadratic kappa."""
    expected = expected_rating(probs, classes)
    values = np.array([int(c) for c in integer_order(classes)], dtype=np.float64)
    cuts = (values[:-1] + values[1:]) / 2
    candidates = np.unique(np.quantile(expected, np.linspace(0, 1, CANDIDATES)))

    def kappa(trial: np.ndarray) -> float:
        return kappa_of_labels(labels, labels_at(expected, trial, classes), classes)

    best = kappa(cuts)
    for _ in range(PASSES):
        improved = False
        for k in range(len(cuts)):
            low = cuts[k - 1] if k > 0 else -np.inf
            high = cuts[k + 1] if k + 1 < len(cuts) else np.inf
            for candidate in candidates[(candidates > low) & (candidates < high)]:
                trial = cuts.copy()
                trial[k] = candidate
                score = kappa(trial)
                if score > best:
                    best, cuts, improved = score, trial, True
        if not improved:
            break
    return [float(c) for c in cuts]


def choose_cut_points(true_labels: Sequence[str] | np.ndarray, classes: Sequence[str], val_probs: np.ndarray, seed: int) -> dict[str, Any]:
    """What goes into the Run's metrics: the cross-fitted kappa with cut points, and the cut points when it beats the most probable class."""
    labels = np.asarray(true_labels).astype(str)
    n_folds = min(FOLDS, len(labels))
    if n_folds < 2:
        return {}
    expected = expected_rating(val_probs, classes)
    cross_fitted = np.empty(len(labels), dtype=object)
    for fit_rows, cut_rows in KFold(n_folds, shuffle=True, random_state=seed).split(labels):
        cuts = fit_cut_points(labels[fit_rows], val_probs[fit_rows], classes)
        cross_fitted[cut_rows] = labels_at(expected[cut_rows], cuts, classes)
    score = kappa_of_labels(labels, cross_fitted.astype(str), classes)
    metrics: dict[str, Any] = {CROSS_FITTED: score}
    if score > get_metric(CUT_METRIC).score(labels, val_probs, classes):
        metrics[CUT_POINTS] = fit_cut_points(labels, val_probs, classes)
    return metrics

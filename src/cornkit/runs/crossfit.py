"""Cross-fitting: score a choice made on the validation rows without letting it flatter itself.

Weights searched, or a level-2 model fitted, on the validation rows look best on exactly those
rows. Cross-fitting scores each row with a choice made on the other rows (k folds), so the
validation accuracy of an ensemble with searched weights, or of a stack, stays comparable
with every other Run's; the test rows then use the choice made on all validation rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data.folds import crossfit_folds
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError

CV_FOLDS = 5
BOOTSTRAP_SAMPLES = 1000
NOISE_STDS = 2
"""A cross-fitted gain counts only above this many bootstrap standard deviations."""

FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``fit_predict(fit_rows, held_rows)``: fit on the rows ``fit_rows`` (indices), return the
probabilities of the rows ``held_rows``, shape (len(held_rows), classes)."""


def cross_fit(fit_predict: FitPredict, labels: np.ndarray, n_classes: int, *, folds: int = CV_FOLDS, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Every row's probabilities from a ``fit_predict`` that never saw it: (rows, ``n_classes``)."""
    if len(labels) < 2:
        raise CornkitError("cross-fitting needs at least two validation rows: one to choose on and one to score.")
    out = np.full((len(labels), n_classes), np.nan)
    for fit, held in crossfit_folds(labels, folds, seed):
        out[held] = fit_predict(fit, held)
    return out


def bootstrap_std(correct: np.ndarray, reference_correct: np.ndarray, seed: int = DEFAULT_SEED) -> float:
    """Bootstrap standard deviation of the accuracy difference between two per-row correctness vectors."""
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(correct), size=(BOOTSTRAP_SAMPLES, len(correct)))
    return float((correct[samples] - reference_correct[samples]).mean(axis=1).std())


def noise_verdict(gain: float, noise: float, otherwise: str) -> str:
    """Whether a cross-fitted ``gain`` stands out of its bootstrap ``noise``; ``otherwise`` says what to use when it does not."""
    if gain > NOISE_STDS * noise:
        return "more than noise"
    return f"within noise (under {NOISE_STDS} bootstrap std): {otherwise}"

"""Cross-fitting: score a choice made on the validation rows without letting it flatter itself.

Weights searched, or a level-2 model fitted, on the validation rows look best on exactly those
rows. Cross-fitting scores each row with a choice made on the other rows (k folds), so the
validation score (the split's metric) of an ensemble with searched weights, or of a stack,
stays comparable with every other Run's; the test rows then use the choice made on all
validation rows. What the choice gained over its reference (equal weights) is set against the
bootstrap spread of that difference, in the metric and its direction.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ..data.folds import crossfit_folds
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from .competition_metric import get_metric
from .run import Run

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


def bootstrap_metric_std(
    metric: str, labels: np.ndarray, probs: np.ndarray, reference_probs: np.ndarray, classes: Sequence[str], seed: int = DEFAULT_SEED
) -> float:
    """Bootstrap standard deviation of ``metric``'s gain of ``probs`` over ``reference_probs`` on the rows ``labels`` (class names).

    The gain is in the metric's direction (positive when ``probs`` is better; for log loss the
    reference's loss minus ``probs``'). A mean over rows is :func:`bootstrap_std` of the per-row
    values (correctness for accuracy, minus the loss for log loss); any other metric is scored on
    each resample (the same draws) with the row counts as ``sample_weight``, a resample on which
    the metric is undefined (an AUC with one class drawn) left out.
    """
    chosen, truth = get_metric(metric), np.asarray(labels).astype(str)
    names = np.asarray([str(c) for c in classes])
    if chosen.per_row:
        correct = (names[probs.argmax(axis=1)] == truth).astype(np.float64)
        return bootstrap_std(correct, (names[reference_probs.argmax(axis=1)] == truth).astype(np.float64), seed)
    if metric == "log_loss":
        index = {name: k for k, name in enumerate(names)}
        positions = np.asarray([index[label] for label in truth])
        return bootstrap_std(-row_log_loss(probs, positions), -row_log_loss(reference_probs, positions), seed)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(truth), size=(BOOTSTRAP_SAMPLES, len(truth)))
    sign = 1.0 if chosen.greater_is_better else -1.0
    gains = np.full(len(samples), np.nan)
    with warnings.catch_warnings():  # scikit-learn's warning on a resample that lacks a class, once per resample
        warnings.simplefilter("ignore")
        for k, drawn in enumerate(samples):
            counts = np.bincount(drawn, minlength=len(truth)).astype(np.float64)
            try:
                gains[k] = sign * (chosen.score(truth, probs, classes, counts) - chosen.score(truth, reference_probs, classes, counts))
            except ValueError:
                continue
    defined = gains[np.isfinite(gains)]
    return float(defined.std()) if len(defined) else float("nan")


def row_log_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's log loss as scikit-learn's ``log_loss`` computes it (the true class's probability clipped to [eps, 1 - eps]).

    ``probs`` is (..., rows, classes) and ``labels`` the true class positions; the mean over
    the last axis of the result is scikit-learn's log loss of each leading index (a grid of mixes).
    """
    eps = np.finfo(np.float64).eps
    return -np.log(np.clip(np.take_along_axis(probs, labels.reshape((1,) * (probs.ndim - 2) + (-1, 1)), axis=-1)[..., 0], eps, 1 - eps))


def members_metric(runs: Sequence[Run]) -> str:
    """The metric every member Run was scored by (their split's); members scored by different metrics are refused in one line."""
    first = runs[0]
    for run in runs[1:]:
        if run.metric != first.metric:
            raise CornkitError(
                f"Run {run.run_id} was made on a split scored by {run.metric}, Run {first.run_id} on one scored by {first.metric}: "
                "a choice on their validation rows needs one metric. Re-make one of them on the current split."
            )
    return first.metric


def noise_verdict(gain: float, noise: float, otherwise: str) -> str:
    """Whether a cross-fitted ``gain`` stands out of its bootstrap ``noise``; ``otherwise`` says what to use when it does not."""
    if gain > NOISE_STDS * noise:
        return "more than noise"
    return f"within noise (under {NOISE_STDS} bootstrap std): {otherwise}"

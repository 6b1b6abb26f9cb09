"""How sure a score is: 95 % intervals for accuracies and a paired test between two Runs.

A validation split of ~2,900 rows puts about ±1.6 points around an accuracy of 0.75, and the
public leaderboard scores a fraction of ~3,500 test rows; a difference between two Runs
smaller than that is noise until a paired test says otherwise. Pure functions, no files:
the report page calls them, a notebook can too.

- :func:`wilson_interval`: the Wilson score interval of k successes in n (scipy's
  ``binomtest(...).proportion_ci(method="wilson")``); it stays inside [0, 1] and is sound near
  0 and 1, where the normal approximation is not.
- :func:`balanced_accuracy_interval`: a percentile bootstrap over validation rows (balanced
  accuracy is a mean of per-class recalls, not one proportion, so no closed form applies).
- :func:`metric_interval`: the competition's metric (:mod:`cornkit.runs.competition_metric`):
  Wilson for a mean of per-row right/wrong, else the same seeded bootstrap, each resample scored
  by scikit-learn with the resample's row counts as ``sample_weight``.
- :func:`mcnemar_exact`: McNemar's exact test on the rows two Runs disagree about (paired on
  the same rows, so it sees differences an interval on each Run alone would hide).
- :func:`paired_bootstrap`: the paired test for a metric that is not a mean of per-row
  right/wrong (log loss, AUC, macro F1, kappa): both Runs scored on the same seeded resamples of
  their common rows, the difference's percentile interval and a two-sided bootstrap p-value.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import binomtest

from ..defaults import DEFAULT_SEED
from .competition_metric import get_metric

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
_BLOCK = 100
"""Resamples drawn at a time, so a 14k-row out-of-fold set never needs all draws in memory at once."""


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval for a proportion of ``successes`` out of ``n``."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def score_interval(score: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson interval of an accuracy ``score`` measured on ``n`` rows (a leaderboard score: only the fraction is known)."""
    return wilson_interval(min(n, max(0, round(score * n))), n, confidence)


@functools.lru_cache(maxsize=4)
def _resample_counts(n_rows: int, resamples: int, seed: int) -> npt.NDArray[np.float32]:
    """How often each row is drawn in each bootstrap resample, shape (resamples, n_rows).

    Cached: every Run on the same validation rows is resampled the same way, so their
    intervals are comparable and the draws are paid for once.
    """
    rng = np.random.default_rng(seed)
    counts = np.empty((resamples, n_rows), dtype=np.float32)
    for start in range(0, resamples, _BLOCK):
        stop = min(start + _BLOCK, resamples)
        draws = rng.integers(0, n_rows, size=(stop - start, n_rows))
        offsets = np.arange(stop - start)[:, None] * n_rows
        counts[start:stop] = np.bincount((draws + offsets).ravel(), minlength=(stop - start) * n_rows).reshape(stop - start, n_rows)
    counts.flags.writeable = False
    return counts


def balanced_accuracy_interval(
    labels: npt.ArrayLike,
    predictions: npt.ArrayLike,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """A seeded percentile-bootstrap interval for balanced accuracy (the mean per-class recall).

    Rows are resampled with replacement; as in scikit-learn's ``balanced_accuracy_score``, a
    resample's score averages the recall of the classes present in it.
    """
    truth, predicted = np.asarray(labels), np.asarray(predictions)
    if truth.shape != predicted.shape or truth.ndim != 1 or not len(truth):
        raise ValueError(f"need one prediction per label, got {truth.shape} labels and {predicted.shape} predictions")
    _, classes = np.unique(truth, return_inverse=True)
    members = np.eye(int(classes.max()) + 1, dtype=np.float32)[classes]  # (rows, classes) one-hot
    counts = _resample_counts(len(truth), resamples, seed)
    totals = counts @ members
    hits = counts @ (members * (truth == predicted)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.nanmean(np.where(totals > 0, hits / totals, np.nan), axis=1)
    low, high = np.quantile(scores, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def metric_interval(
    metric: str,
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    classes: Sequence[str],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """A 95 % interval for ``metric`` of ``probs`` against ``labels``: Wilson where it is a proportion, else a percentile bootstrap.

    A resample in which the metric is undefined (an AUC with one class drawn) is left out.
    """
    chosen, truth = get_metric(metric), np.asarray(labels).astype(str)
    if chosen.per_row:
        return wilson_interval(round(chosen.score(truth, probs, classes) * len(truth)), len(truth), confidence)
    scores = []
    for counts in _resample_counts(len(truth), resamples, seed):
        try:
            scores.append(chosen.score(truth, probs, classes, sample_weight=counts))
        except ValueError:
            continue
    low, high = np.quantile(scores, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test of two Runs on the same rows: who is right where they disagree."""

    only_first: int
    """Rows the first Run gets right and the second wrong."""
    only_second: int
    """Rows the second Run gets right and the first wrong."""
    p_value: float
    """Two-sided: the chance of a split of the disagreements at least this uneven if both Runs were equally accurate."""

    @property
    def rows_apart(self) -> int:
        """How many more rows the first Run gets right (its accuracy lead times the row count)."""
        return self.only_first - self.only_second


def mcnemar_exact(first_correct: npt.ArrayLike, second_correct: npt.ArrayLike) -> PairedTest:
    """McNemar's exact test: a two-sided binomial test (p = ½) on the discordant rows.

    Rows both Runs get right or both get wrong say nothing about which is better; among the
    others, equally good Runs would each be right half the time.
    """
    first, second = np.asarray(first_correct, dtype=bool), np.asarray(second_correct, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"paired rows differ in number: {first.shape} and {second.shape}")
    only_first, only_second = int(np.sum(first & ~second)), int(np.sum(second & ~first))
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(binomtest(only_first, discordant, 0.5).pvalue)
    return PairedTest(only_first, only_second, p_value)


@dataclass(frozen=True)
class PairedBootstrap:
    """Two Runs scored on the same bootstrap resamples of their common rows: the first's lead and how sure it is."""

    difference: float
    """The first Run's metric minus the second's, in the metric's direction: positive when the first is better.

    For log loss (lower is better) that is the second's loss minus the first's.
    """
    interval: tuple[float, float]
    """The percentile interval of the resampled differences."""
    p_value: float
    """Two-sided: twice the smaller share of resampled differences on either side of 0 (each share counts the observed data once), at most 1."""
    resamples: int
    """Resamples in which the metric was defined for both Runs (the others are skipped)."""


def resample_scores(
    metric: str,
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    classes: Sequence[str],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> npt.NDArray[np.float64]:
    """``metric`` of ``probs`` on each seeded bootstrap resample of the rows (the draws of :func:`metric_interval`), NaN where it is undefined.

    One Run's resampled scores serve both its interval (:func:`percentile_interval`) and every
    paired comparison it is in (:func:`paired_from_resamples`): a table of many Runs scores each once.
    """
    chosen, truth = get_metric(metric), np.asarray(labels).astype(str)
    values = np.asarray(probs, dtype=np.float64)
    scores = np.full(resamples, np.nan)
    for k, counts in enumerate(_resample_counts(len(truth), resamples, seed)):
        try:
            scores[k] = chosen.score(truth, values, classes, sample_weight=counts)
        except ValueError:
            continue
    return scores


def percentile_interval(scores: npt.ArrayLike, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of resampled scores, NaN ones (undefined resamples) left out: :func:`metric_interval`'s bootstrap interval."""
    defined = np.asarray(scores, dtype=np.float64)
    defined = defined[~np.isnan(defined)]
    if not len(defined):
        return np.nan, np.nan
    low, high = np.quantile(defined, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def paired_from_resamples(
    metric: str, observed_a: float, observed_b: float, scores_a: npt.ArrayLike, scores_b: npt.ArrayLike, confidence: float = CONFIDENCE
) -> PairedBootstrap:
    """The paired bootstrap of two Runs from their scores on the data and on the same resamples (NaN: undefined, skipped)."""
    sign = 1.0 if get_metric(metric).greater_is_better else -1.0
    drawn = sign * (np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b, dtype=np.float64))
    drawn = drawn[~np.isnan(drawn)]
    if not len(drawn):
        raise ValueError(f"{metric} is undefined on every bootstrap resample")
    low, high = np.quantile(drawn, [(1 - confidence) / 2, (1 + confidence) / 2])
    below, above = (1 + int(np.sum(drawn <= 0))) / (1 + len(drawn)), (1 + int(np.sum(drawn >= 0))) / (1 + len(drawn))
    return PairedBootstrap(float(sign * (observed_a - observed_b)), (float(low), float(high)), min(1.0, 2 * min(below, above)), len(drawn))


def paired_bootstrap(
    metric: str,
    labels: npt.ArrayLike,
    probs_a: npt.ArrayLike,
    probs_b: npt.ArrayLike,
    classes: Sequence[str],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedBootstrap:
    """A paired percentile bootstrap of ``metric`` between two Runs' probabilities on the same rows (``labels``).

    Each resample weighs the rows by how often it drew them (the draws :func:`metric_interval`
    uses with the same seed) and scores both Runs on it, so what the rows themselves make easy
    or hard cancels out. A resample in which the metric is undefined for either Run is skipped.
    """
    chosen, truth = get_metric(metric), np.asarray(labels).astype(str)
    first, second = np.asarray(probs_a, dtype=np.float64), np.asarray(probs_b, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 2 or first.shape[0] != len(truth):
        raise ValueError(f"paired rows differ: {len(truth)} labels, probabilities {first.shape} and {second.shape}")
    options = {"resamples": resamples, "seed": seed}
    return paired_from_resamples(
        metric,
        chosen.score(truth, first, classes),
        chosen.score(truth, second, classes),
        resample_scores(metric, truth, first, classes, **options),
        resample_scores(metric, truth, second, classes, **options),
        confidence,
    )

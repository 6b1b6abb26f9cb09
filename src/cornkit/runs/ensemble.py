"""Average Runs into one Run: the winners' recipe, made safe and honest.

The inputs must have been made on the same split, over the same ids, with the same class order
(:mod:`cornkit.runs.members` checks and aligns them), and so scored by the same metric.

Weights are equal by default, given by the user, or searched (``"auto"``) on the validation
rows by the split's metric, in its direction. A search scored on the rows it was made on
flatters itself, so an ``auto`` Run is cross-fitted: each validation row is mixed with weights
searched on the other rows (5 folds), and its validation score in the split's metric is that
honest figure; the test rows use the weights searched on all validation rows. The Run also
records the flattering in-sample score and the bootstrap spread of the gain over equal weights
(in the metric's direction): a gain inside that spread is noise.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..metric_names import DEFAULT_METRIC
from .competition_metric import get_metric
from .crossfit import bootstrap_metric_std, bootstrap_std, cross_fit, members_metric, noise_verdict, row_log_loss
from .members import aligned_probs, check_compatible, class_positions
from .model import RunModel
from .run import Run, make_run

APPROACH = "ensemble"
AUTO = "auto"
MAX_GRID_POINTS = 2000
GRID_STEPS = 20
GRID_CHUNK = 64  # weight vectors scored at once, to bound memory on large validation sets


def simplex_grid(n: int) -> np.ndarray:
    """All weight vectors of ``n`` non-negative multiples of 1/steps summing to 1, as fine as the point budget allows."""
    steps = GRID_STEPS
    while steps > 1 and comb(steps + n - 1, n - 1) > MAX_GRID_POINTS:
        steps -= 1
    points = [c for c in itertools.product(range(steps + 1), repeat=n - 1) if sum(c) <= steps]
    return np.array([[*c, steps - sum(c)] for c in points], dtype=np.float64) / steps


def _scores(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and log loss of every weight vector of ``grid`` on rows ``probs`` (runs, rows, classes)."""
    accuracy, log_loss = np.empty(len(grid)), np.empty(len(grid))
    rows = np.arange(len(labels))
    for start in range(0, len(grid), GRID_CHUNK):
        mixed = np.einsum("gr,rnc->gnc", grid[start : start + GRID_CHUNK], probs)
        accuracy[start : start + GRID_CHUNK] = (mixed.argmax(axis=2) == labels).mean(axis=1)
        log_loss[start : start + GRID_CHUNK] = -np.log(np.clip(mixed[:, rows, labels], 1e-12, None)).mean(axis=1)
    return accuracy, log_loss


def _class_names(classes: Sequence[str] | None, n_classes: int) -> list[str]:
    """The class names the metric scores by (positions as names when none are given)."""
    return [str(c) for c in classes] if classes is not None else [str(k) for k in range(n_classes)]


def _metric_scores(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray, metric: str, classes: Sequence[str]) -> np.ndarray:
    """``metric`` (scikit-learn's, via :func:`get_metric`) of every weight vector of ``grid`` on rows ``probs`` (runs, rows, classes).

    Log loss, a mean over rows, is computed for a whole chunk at once exactly as scikit-learn does
    (:func:`~cornkit.runs.crossfit.row_log_loss`); any other metric is scored point by point.
    """
    chosen, names = get_metric(metric), np.asarray(classes)[labels]
    scores = np.empty(len(grid))
    for start in range(0, len(grid), GRID_CHUNK):
        mixed = np.einsum("gr,rnc->gnc", grid[start : start + GRID_CHUNK], probs)
        if metric == "log_loss":
            scores[start : start + GRID_CHUNK] = row_log_loss(mixed, labels).mean(axis=1)
            continue
        with warnings.catch_warnings():  # scikit-learn's warning on a fold's rows that lack a class, once per grid point
            warnings.simplefilter("ignore")
            for k, point in enumerate(mixed):
                try:
                    scores[start + k] = chosen.score(names, point, classes)
                except ValueError:
                    scores[start + k] = np.nan
    worst = -np.inf if chosen.greater_is_better else np.inf
    return np.where(np.isnan(scores), worst, scores)  # undefined on these rows (an AUC of a class they lack): never the best


def search_weights(probs: np.ndarray, labels: np.ndarray, metric: str = DEFAULT_METRIC, classes: Sequence[str] | None = None) -> np.ndarray:
    """The grid weights with the best ``metric`` (in its direction) on rows ``probs`` (runs, rows, classes), ``labels`` class positions.

    Accuracy (and any mean of per-row right/wrong) ties on many grid points: log loss breaks
    those ties, equal weights win exact ones. Any other metric is scored by scikit-learn on every
    grid point; exact ties go to the weights closest to equal.
    """
    n = probs.shape[0]
    grid = np.vstack([np.full((1, n), 1 / n), simplex_grid(n)])
    distance = np.abs(grid - 1 / n).sum(axis=1)
    chosen = get_metric(metric)
    if chosen.per_row:
        accuracy, log_loss = _scores(probs, labels, grid)
        best = np.lexsort((distance, log_loss, -accuracy))[0]
    else:
        scores = _metric_scores(probs, labels, grid, metric, _class_names(classes, probs.shape[2]))
        best = np.lexsort((distance, -scores if chosen.greater_is_better else scores))[0]
    return grid[best]


def _accuracy(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-row correctness of the weighted mean."""
    return (np.einsum("r,rnc->nc", weights, probs).argmax(axis=1) == labels).astype(np.float64)


@dataclass(frozen=True)
class WeightReport:
    """Searched weights, the cross-fitted validation probabilities, and what the search is worth in the split's metric."""

    weights: np.ndarray
    val_probs: np.ndarray
    score: float
    """The cross-fitted (honest) validation ``metric``."""
    in_sample_score: float
    equal_score: float
    noise: float
    """Bootstrap standard deviation of :attr:`gain`."""
    metric: str = DEFAULT_METRIC
    in_sample_accuracy: float = float("nan")
    equal_accuracy: float = float("nan")

    @property
    def gain(self) -> float:
        """The cross-fitted score's gain over equal weights, in the metric's direction (positive: the searched weights are better)."""
        return self._gain(self.score)

    def _gain(self, score: float) -> float:
        return score - self.equal_score if get_metric(self.metric).greater_is_better else self.equal_score - score

    def as_metrics(self) -> dict[str, Any]:
        named = {
            f"val_{self.metric}_equal_weights": self.equal_score,
            f"val_{self.metric}_in_sample": self.in_sample_score,
        }
        if self.metric != "accuracy":
            named |= {"val_accuracy_equal_weights": self.equal_accuracy, "val_accuracy_in_sample": self.in_sample_accuracy}
        return named | {"auto_gain": self.gain, "auto_gain_bootstrap_std": self.noise}

    def summary(self) -> str:
        verdict = noise_verdict(self.gain, self.noise, "equal weights are as good")
        gain = f"{self.gain:+.4f}" if get_metric(self.metric).greater_is_better else f"gain {self.gain:+.4f}, lower is better"
        return (
            f"auto weights {', '.join(f'{w:.2f}' for w in self.weights)}: cross-fitted validation {self.metric} {self.score:.4f} vs "
            f"{self.equal_score:.4f} with equal weights ({gain}; {self._gain(self.in_sample_score):+.4f} "
            f"on the rows the weights were chosen on; bootstrap std of the difference {self.noise:.4f}): {verdict}."
        )


def cross_fitted_probs(probs: np.ndarray, labels: np.ndarray, metric: str = DEFAULT_METRIC, classes: Sequence[str] | None = None) -> np.ndarray:
    """Each validation row mixed with the weights searched (by ``metric``) on the other rows: (rows, classes)."""
    if len(labels) < 2:
        raise CornkitError("--weights auto needs at least two validation rows to choose weights on some and score them on others.")

    def mix_held_rows(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        return np.einsum("r,rnc->nc", search_weights(probs[:, fit], labels[fit], metric, classes), probs[:, held])

    return cross_fit(mix_held_rows, labels, probs.shape[2])


def evaluate_auto_weights(probs: np.ndarray, labels: np.ndarray, metric: str = DEFAULT_METRIC, classes: Sequence[str] | None = None) -> WeightReport:
    """Search weights by ``metric`` on all validation rows (for the test) and cross-fit the validation rows (for an honest score)."""
    equal = np.full(probs.shape[0], 1 / probs.shape[0])
    weights = search_weights(probs, labels, metric, classes)
    val_probs = cross_fitted_probs(probs, labels, metric, classes)
    correct_in_sample, correct_equal = _accuracy(probs, labels, weights), _accuracy(probs, labels, equal)
    accuracies = {"in_sample_accuracy": float(correct_in_sample.mean()), "equal_accuracy": float(correct_equal.mean())}
    if metric == "accuracy":  # per-row correctness: the figures (and the bootstrap draws) cornkit has always reported
        correct = (val_probs.argmax(axis=1) == labels).astype(np.float64)
        noise = bootstrap_std(correct, correct_equal)
        score, in_sample, equal_score = float(correct.mean()), accuracies["in_sample_accuracy"], accuracies["equal_accuracy"]
    else:
        names = _class_names(classes, probs.shape[2])
        chosen, truth, equal_probs = get_metric(metric), np.asarray(names)[labels], np.einsum("r,rnc->nc", equal, probs)
        noise = bootstrap_metric_std(metric, truth, val_probs, equal_probs, names)
        score, in_sample, equal_score = (chosen.score(truth, mixed, names) for mixed in (val_probs, np.einsum("r,rnc->nc", weights, probs), equal_probs))
    return WeightReport(weights, val_probs, score, in_sample, equal_score, noise, metric, **accuracies)


def _given_weights(weights: Sequence[float], runs: Sequence[Run]) -> np.ndarray:
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(runs),):
        raise CornkitError(f"--weights: {len(values)} weight(s) for {len(runs)} Runs; give one per Run, in the same order.")
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise CornkitError(f"--weights {','.join(map(str, weights))}: weights must be non-negative numbers, not all zero.")
    return values / values.sum()


def ensemble_runs(runs: Sequence[Run], weights: Sequence[float] | str | None = None) -> Run:
    """A Run whose probabilities are the weighted mean of ``runs``' (not saved; see ``save_run``).

    ``weights`` is ``None`` (equal), one non-negative number per Run (normalised to sum 1), or
    ``"auto"``: the best weights by the members' split metric on the validation rows for the
    test probabilities, cross-fitted validation probabilities, and the gain (in the metric's
    direction) and its noise in the metrics (``auto_gain``, ``auto_gain_bootstrap_std``,
    ``val_<metric>_in_sample``, ``val_<metric>_equal_weights``; the accuracy ones too on a split
    scored by another metric). Members scored by different metrics are refused.
    """
    check_compatible(runs)
    metric = members_metric(runs)
    first = runs[0]
    val, test = aligned_probs(runs, "val"), aligned_probs(runs, "test")
    labels = class_positions(first)
    report: WeightReport | None = None
    val_probs = None
    if weights is None:
        used, mode = np.full(len(runs), 1 / len(runs)), "equal"
    elif isinstance(weights, str):
        if weights != AUTO:
            raise CornkitError(f"--weights {weights!r}: give 'auto' or one number per Run, e.g. 0.7,0.3.")
        report = evaluate_auto_weights(val, labels, metric, first.classes)
        used, mode, val_probs = report.weights, AUTO, report.val_probs
    else:
        used, mode = _given_weights(weights, runs), "given"
    config: dict[str, Any] = {
        "members": [run.run_id for run in runs],
        "weights": [round(float(w), 6) for w in used] if mode == "given" else mode,
    }
    run = make_run(
        approach=APPROACH,
        model="+".join(run.approach for run in runs),
        classes=first.classes,
        split=first.validation_rows(),
        val_probs=np.einsum("r,rnc->nc", used, val) if val_probs is None else val_probs,
        test_ids=first.test_ids,
        test_probs=np.einsum("r,rnc->nc", used, test),
        config=config,
        seed=DEFAULT_SEED,
    )
    run.fitted = RunModel(kind="ensemble", details={"members": config["members"], "weights": [float(w) for w in used]})
    run.metrics["weights"] = dict(zip(config["members"], (float(w) for w in used), strict=True))
    for name in dict.fromkeys(("accuracy", metric)):
        run.metrics[f"member_val_{name}"] = {r.run_id: float(r.metrics.get(f"val_{name}", float("nan"))) for r in runs}
    if report is not None:
        run.metrics.update(report.as_metrics())
        run.metrics["auto_summary"] = report.summary()
    return run

"""Average Runs into one Run: the winners' recipe, made safe and honest.

The inputs must have been made on the same split, over the same ids, with the same class order
(:mod:`cornkit.runs.members` checks and aligns them).

Weights are equal by default, given by the user, or searched (``"auto"``) on the validation
rows. A search scored on the rows it was made on flatters itself, so an ``auto`` Run is
cross-fitted: each validation row is mixed with weights searched on the other rows (5 folds),
and its validation accuracy is that honest figure; the test rows use the weights searched on
all validation rows. The Run also records the flattering in-sample accuracy and the bootstrap
spread of the difference from equal weights: a gain inside that spread is noise.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from .crossfit import bootstrap_std, cross_fit, noise_verdict
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


def search_weights(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The grid weights with the best accuracy; log loss breaks the (many) ties, equal weights win exact ones."""
    n = probs.shape[0]
    grid = np.vstack([np.full((1, n), 1 / n), simplex_grid(n)])
    accuracy, log_loss = _scores(probs, labels, grid)
    distance = np.abs(grid - 1 / n).sum(axis=1)
    best = np.lexsort((distance, log_loss, -accuracy))[0]
    return grid[best]


def _accuracy(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-row correctness of the weighted mean."""
    return (np.einsum("r,rnc->nc", weights, probs).argmax(axis=1) == labels).astype(np.float64)


@dataclass(frozen=True)
class WeightReport:
    """Searched weights, the cross-fitted validation probabilities, and what the search is worth."""

    weights: np.ndarray
    val_probs: np.ndarray
    accuracy: float
    in_sample_accuracy: float
    equal_accuracy: float
    noise: float

    @property
    def gain(self) -> float:
        return self.accuracy - self.equal_accuracy

    def as_metrics(self) -> dict[str, Any]:
        return {
            "val_accuracy_equal_weights": self.equal_accuracy,
            "val_accuracy_in_sample": self.in_sample_accuracy,
            "auto_gain": self.gain,
            "auto_gain_bootstrap_std": self.noise,
        }

    def summary(self) -> str:
        verdict = noise_verdict(self.gain, self.noise, "equal weights are as good")
        return (
            f"auto weights {', '.join(f'{w:.2f}' for w in self.weights)}: cross-fitted validation accuracy {self.accuracy:.4f} vs "
            f"{self.equal_accuracy:.4f} with equal weights ({self.gain:+.4f}; {self.in_sample_accuracy - self.equal_accuracy:+.4f} "
            f"on the rows the weights were chosen on; bootstrap std of the difference {self.noise:.4f}): {verdict}."
        )


def cross_fitted_probs(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each validation row mixed with the weights searched on the other rows: (rows, classes)."""
    if len(labels) < 2:
        raise CornkitError("--weights auto needs at least two validation rows to choose weights on some and score them on others.")

    def mix_held_rows(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        return np.einsum("r,rnc->nc", search_weights(probs[:, fit], labels[fit]), probs[:, held])

    return cross_fit(mix_held_rows, labels, probs.shape[2])


def evaluate_auto_weights(probs: np.ndarray, labels: np.ndarray) -> WeightReport:
    """Search weights on all validation rows (for the test) and cross-fit the validation rows (for an honest score)."""
    equal = np.full(probs.shape[0], 1 / probs.shape[0])
    weights = search_weights(probs, labels)
    val_probs = cross_fitted_probs(probs, labels)
    correct = (val_probs.argmax(axis=1) == labels).astype(np.float64)
    correct_equal = _accuracy(probs, labels, equal)
    noise = bootstrap_std(correct, correct_equal)
    return WeightReport(
        weights=weights,
        val_probs=val_probs,
        accuracy=float(correct.mean()),
        in_sample_accuracy=float(_accuracy(probs, labels, weights).mean()),
        equal_accuracy=float(correct_equal.mean()),
        noise=noise,
    )


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
    ``"auto"``: the best weights on the validation rows for the test probabilities, cross-fitted
    validation probabilities, and the gain and its noise in the metrics (``auto_gain``,
    ``auto_gain_bootstrap_std``, ``val_accuracy_in_sample``).
    """
    check_compatible(runs)
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
        report = evaluate_auto_weights(val, labels)
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
    run.metrics["member_val_accuracy"] = {r.run_id: float(r.metrics.get("val_accuracy", float("nan"))) for r in runs}
    if report is not None:
        run.metrics.update(report.as_metrics())
        run.metrics["auto_summary"] = report.summary()
    return run

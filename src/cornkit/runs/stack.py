"""Stack Runs: a level-2 model learns how to combine the members' validation probabilities.

Where ``ensemble`` mixes the members' probabilities with a few weights, a stack fits a
classifier (scikit-learn's logistic regression by default) on the concatenated
log-probabilities of every member, so it can learn that one member is trustworthy on some
classes and another on others. It is fitted on the validation rows, the only rows every member
predicted without having trained on them, and a model scored on the rows it was fitted on
flatters itself (with enough members it can learn pure noise). So a stack is cross-fitted
exactly like ``ensemble --weights auto`` (:mod:`cornkit.runs.crossfit`): each validation row is
scored by a meta-model fitted on the other rows, and that honest score in the split's metric is
the Run's ``val_<metric>``; the test rows are scored by the meta-model fitted on all validation
rows. The Run also records the flattering in-sample score and the gain over the equal-weight
mean (in the metric's direction) with its bootstrap spread: a gain inside that spread is noise.
The meta-models are fitted with fixed settings (nothing is chosen on the validation rows but the
fit itself), so the metric enters through what the Run reports and compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import DEFAULT_SEED, STACK_META_MODELS
from ..errors import CornkitError
from ..metric_names import DEFAULT_METRIC
from .competition_metric import get_metric
from .crossfit import bootstrap_metric_std, bootstrap_std, cross_fit, members_metric, noise_verdict
from .members import aligned_probs, check_compatible, class_positions
from .model import RunModel
from .run import Run, make_run, save_run

APPROACH = "stack"
STACK_MODEL_FILE = "stack.joblib"
LOG_FLOOR = 1e-6
"""Probabilities are clipped here before the log, so a member's confident 0 stays a finite feature."""


def meta_features(probs: np.ndarray) -> np.ndarray:
    """(runs, rows, classes) probabilities as one row of every member's log-probabilities: (rows, runs * classes)."""
    n_runs, n_rows, n_classes = probs.shape
    return np.log(np.clip(probs, LOG_FLOOR, None)).transpose(1, 0, 2).reshape(n_rows, n_runs * n_classes)


def meta_model(name: str, seed: int = DEFAULT_SEED) -> Any:
    """A fresh, unfitted level-2 classifier called ``name`` (one of ``STACK_META_MODELS``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if name == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    raise CornkitError(f"--meta {name!r}: choose one of {', '.join(STACK_META_MODELS)}.")


def predict_classes(model: Any, features: np.ndarray, n_classes: int) -> np.ndarray:
    """``model``'s probabilities in the full class order (a class missing from its fit rows gets 0)."""
    probs = np.zeros((len(features), n_classes))
    probs[:, model.classes_] = model.predict_proba(features)
    return probs


@dataclass(frozen=True)
class StackReport:
    """What the stack is worth on the validation rows in the split's metric: honestly, flatteringly, and against the equal-weight mean."""

    meta: str
    score: float
    """The cross-fitted (honest) validation ``metric``."""
    in_sample_score: float
    mean_score: float
    noise: float
    """Bootstrap standard deviation of :attr:`gain`."""
    metric: str = DEFAULT_METRIC
    in_sample_accuracy: float = float("nan")
    mean_accuracy: float = float("nan")

    @property
    def gain(self) -> float:
        """The cross-fitted score's gain over the equal-weight mean, in the metric's direction (positive: the stack is better)."""
        return self._gain(self.score)

    def _gain(self, score: float) -> float:
        return score - self.mean_score if get_metric(self.metric).greater_is_better else self.mean_score - score

    def as_metrics(self) -> dict[str, Any]:
        named = {f"val_{self.metric}_equal_weights": self.mean_score, f"val_{self.metric}_in_sample": self.in_sample_score}
        if self.metric != "accuracy":
            named |= {"val_accuracy_equal_weights": self.mean_accuracy, "val_accuracy_in_sample": self.in_sample_accuracy}
        return named | {"stack_gain": self.gain, "stack_gain_bootstrap_std": self.noise}

    def summary(self) -> str:
        verdict = noise_verdict(self.gain, self.noise, "the equal-weight ensemble is as good")
        gain = f"{self.gain:+.4f}" if get_metric(self.metric).greater_is_better else f"gain {self.gain:+.4f}, lower is better"
        return (
            f"stack ({self.meta}): cross-fitted validation {self.metric} {self.score:.4f} vs {self.mean_score:.4f} for the "
            f"equal-weight mean ({gain}; {self._gain(self.in_sample_score):+.4f} on the rows it was fitted on; "
            f"bootstrap std of the difference {self.noise:.4f}): {verdict}."
        )


def stack_report(
    meta: str, metric: str, val: np.ndarray, labels: np.ndarray, classes: Sequence[str], val_probs: np.ndarray, in_sample_probs: np.ndarray, seed: int
) -> StackReport:
    """The stack's cross-fitted ``val_probs`` and fitted-on-all ``in_sample_probs`` against the members' (``val``) equal-weight mean."""
    mean_probs = val.mean(axis=0)
    correct, mean_correct = (val_probs.argmax(axis=1) == labels).astype(np.float64), (mean_probs.argmax(axis=1) == labels).astype(np.float64)
    accuracies = {"in_sample_accuracy": float((in_sample_probs.argmax(axis=1) == labels).mean()), "mean_accuracy": float(mean_correct.mean())}
    if metric == "accuracy":  # per-row correctness: the figures (and the bootstrap draws) cornkit has always reported
        score, in_sample, mean_score = float(correct.mean()), accuracies["in_sample_accuracy"], accuracies["mean_accuracy"]
        noise = bootstrap_std(correct, mean_correct, seed)
    else:
        chosen, truth = get_metric(metric), np.asarray(classes)[labels]
        score, in_sample, mean_score = (chosen.score(truth, probs, classes) for probs in (val_probs, in_sample_probs, mean_probs))
        noise = bootstrap_metric_std(metric, truth, val_probs, mean_probs, classes, seed)
    return StackReport(meta, score, in_sample, mean_score, noise, metric, **accuracies)


@dataclass(frozen=True)
class Stack:
    """The stack's Run and the meta-model, fitted on all validation rows, that made its test probabilities."""

    run: Run
    model: Any
    report: StackReport

    def save(self, work: str | Path) -> Path:
        """Save the Run with the meta-model beside it (``stack.joblib``, listed in ``model.json``)."""
        return save_run(self.run, work)


def stack_runs(runs: Sequence[Run], meta: str = "logreg", seed: int = DEFAULT_SEED) -> Stack:
    """A cross-fitted level-2 model on ``runs``' validation probabilities (not saved; see :meth:`Stack.save`).

    Its report (``stack_summary``, ``stack_gain``, ``val_<metric>_in_sample``, ...) is in the
    members' split metric; members scored by different metrics are refused.
    """
    check_compatible(runs, "a stack")
    metric = members_metric(runs)
    meta_model(meta, seed)  # an unknown name is refused before any fitting
    first = runs[0]
    val, test = aligned_probs(runs, "val"), aligned_probs(runs, "test")
    labels = class_positions(first)
    if len(np.unique(labels)) < 2:
        raise CornkitError(f"the validation rows of Run {first.run_id} hold a single class: a stack needs at least two to learn from.")
    n_classes = len(first.classes)
    x_val, x_test = meta_features(val), meta_features(test)

    def fit_held_out(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        return predict_classes(meta_model(meta, seed).fit(x_val[fit], labels[fit]), x_val[held], n_classes)

    val_probs = cross_fit(fit_held_out, labels, n_classes, seed=seed)
    model = meta_model(meta, seed).fit(x_val, labels)
    report = stack_report(meta, metric, val, labels, first.classes, val_probs, predict_classes(model, x_val, n_classes), seed)
    run = make_run(
        approach=APPROACH,
        model="+".join(run.approach for run in runs),
        classes=first.classes,
        split=first.validation_rows(),
        val_probs=val_probs,
        test_ids=first.test_ids,
        test_probs=predict_classes(model, x_test, n_classes),
        config={"members": [run.run_id for run in runs], "meta": meta},
        seed=seed,
    )
    for name in dict.fromkeys(("accuracy", metric)):
        run.metrics[f"member_val_{name}"] = {r.run_id: float(r.metrics.get(f"val_{name}", float("nan"))) for r in runs}
    run.fitted = RunModel(kind="stack", details={"members": [r.run_id for r in runs], "meta": meta}, objects={STACK_MODEL_FILE: model})
    run.metrics.update(report.as_metrics())
    run.metrics["stack_summary"] = report.summary()
    return Stack(run=run, model=model, report=report)

"""The linear probe: scikit-learn logistic regression on cached CLIP features.

As in the CLIP paper's linear-probe evaluation, the regularisation strength C is chosen by
cross-validation on the training rows only, over a log-spaced sweep; the validation rows are
never seen before they are scored. The sweep is scikit-learn's ``LogisticRegressionCV``: the
same stratified folds and accuracy scoring as a grid search, but each fold walks the C path
with warm starts (each C starts from the previous C's solution) instead of solving every C
from zero; the chosen C is then fitted on all training rows, as the grid search's refit did
(``benchmarks/probe.py`` measures the difference). With a k-fold split there is one probe per
fold (see :func:`~cornkit.heads.on_features.features_run`). The fitted estimators are saved
with the Run (``model.joblib``; ``cornkit predict`` applies them to new images).

``alpha`` (``--alpha``) blends the probe with zero-shot in log-probability space (:mod:`cornkit.heads.blend`);
the default 1 is the probe alone and never loads the CLIP model. ``init="zeroshot"`` starts the
final fit from the zero-shot text classifier (class text embeddings times the logit scale):
the L2-regularised objective is convex, so the start changes the solution only within the
solver's tolerance; it saves iterations when the text classifier is already good. To keep the
zero-shot knowledge in the prediction itself, blend with ``--alpha``.

With fewer training rows per class than ``--cv-folds``, C is cross-validated on as many folds as
the smallest class has rows; with one row per class it cannot be, and C=1 (scikit-learn's
default) is used and recorded. scikit-learn is imported where it is used, so that the CLI,
which imports every head to build its parser, stays quick.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.folds import smallest_class
from ..defaults import DEFAULT_SEED
from ..metric_names import DEFAULT_METRIC
from ..params import AUTO, SearchRange, param
from ..workers import in_threads
from .blend import AlphaChoice, alpha_param, choose_alpha, cv_splits, fallback_alpha, fixed_alpha
from .on_features import FeatureHeadParams, FeatureTask, Fitted, check_every_class_present
from .registry import Head

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

    from ..clip.text_classifier import ZeroShotClassifier
    from ..runs.run import Run

DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 4, 15))
FALLBACK_C = 1.0
ALPHAS: tuple[float, ...] = tuple(round(a, 1) for a in np.linspace(0.0, 1.0, 11))
FALLBACK_ALPHA = 0.5
MAX_ITER = 5000


@dataclass
class ProbeFit:
    """The probe fitted on all training rows with the chosen C, and how C was chosen (``cv_folds`` 0: not cross-validated)."""

    estimator: LogisticRegression
    C: float
    cv_score: float | None
    """The chosen C's mean fold score in ``metric``."""
    splits: list[tuple[np.ndarray, np.ndarray]] | None
    metric: str = DEFAULT_METRIC

    @property
    def cv_folds(self) -> int:
        return len(self.splits) if self.splits else 0


def _explicit_defaults() -> dict[str, Any]:
    """Arguments newer scikit-learn warns about when left to their changing defaults (1.9: l1_ratios, fitted-attribute layout)."""
    from sklearn.linear_model import LogisticRegressionCV

    if "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters:
        return {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    return {}


def _mean_fold_scores(search: Any, n_folds: int) -> np.ndarray:
    """Mean score over folds for each C (``scores_`` is a dict per class in scikit-learn's legacy layout)."""
    scores = search.scores_
    if isinstance(scores, dict):
        scores = next(iter(scores.values()))
    return np.asarray(scores).reshape(n_folds, -1).mean(axis=0)


def choose_c(
    features: np.ndarray,
    labels: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    cs: Sequence[float],
    class_weight: str | None,
    metric: str = DEFAULT_METRIC,
    classes: Sequence[str] | None = None,
) -> tuple[float, float]:
    """The C with the best mean fold score in the competition's ``metric`` (ties: the first in ``cs``, as GridSearchCV), and that score.

    ``labels`` are indices into ``classes`` (the metric reads class names: quadratic kappa orders them).
    """
    from sklearn.linear_model import LogisticRegressionCV

    from ..runs.competition_metric import get_metric

    chosen = get_metric(metric)
    names = tuple(classes) if classes is not None else tuple(str(k) for k in range(int(np.max(labels)) + 1))
    search = LogisticRegressionCV(
        Cs=list(cs),
        cv=splits,
        scoring=chosen.scorer(names),
        max_iter=MAX_ITER,
        class_weight=class_weight,
        refit=False,
        n_jobs=-1,
        **_explicit_defaults(),
    )
    with in_threads():  # folds in threads: no worker process survives a killed command
        search.fit(features, labels)
    mean = _mean_fold_scores(search, len(splits))
    best = int(np.argmax(mean))
    return float(search.Cs_[best]), chosen.from_scorer(float(mean[best]))


def fit_probe(
    features: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    cs: Sequence[float] = DEFAULT_CS,
    class_weight: str | None = None,
    cv_folds: int = 5,
    seed: int = DEFAULT_SEED,
    init_coef: np.ndarray | None = None,
    metric: str = DEFAULT_METRIC,
    classes: Sequence[str] | None = None,
) -> ProbeFit:
    """Logistic regression with C chosen by stratified ``cv_folds``-fold CV on these rows only, by the split's ``metric``.

    ``init_coef`` (classes x features) is where the final fit starts (``--init zeroshot``);
    ``classes`` names the class indices in ``labels`` for the metric.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels)
    splits = cv_splits(y, seed, max_folds=cv_folds)
    if splits is not None and len(splits) < cv_folds:
        log.info(
            f"note: cv_folds={cv_folds} (--cv-folds) is more than the rarest class's {smallest_class(y)} training rows; "
            f"C is cross-validated on {len(splits)} folds (recorded as cv_folds in metrics.json)."
        )
    C, score = (FALLBACK_C, None) if splits is None else choose_c(features, y, splits, cs, class_weight, metric, classes)
    estimator = LogisticRegression(C=C, max_iter=MAX_ITER, class_weight=class_weight, warm_start=init_coef is not None)
    if init_coef is not None:
        estimator.coef_, estimator.intercept_ = init_coef, np.zeros(len(init_coef))
    return ProbeFit(estimator.fit(features, y), C, score, splits, metric)


def zeroshot_coef(classifier: ZeroShotClassifier) -> np.ndarray:
    """The text classifier as logistic-regression coefficients: each class's (mean, unit) text embedding times the logit scale."""
    columns = np.stack([classifier.weights[:, classifier.column_class == k].mean(axis=1) for k in range(classifier.n_classes)])
    coef = classifier.logit_scale * columns / np.linalg.norm(columns, axis=1, keepdims=True)
    return coef[1:] - coef[:1] if len(coef) == 2 else coef


def _log_probs(estimator: LogisticRegression, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Class log-probabilities from the decision function: finite even where ``predict_proba`` underflows to 0 (0 · log 0 would be NaN at α=0)."""
    from scipy.special import log_softmax

    scores = estimator.decision_function(features)
    scores = np.stack([np.zeros_like(scores), scores], axis=1) if scores.ndim == 1 else scores
    out = np.full((len(features), n_classes), -np.inf)
    out[:, estimator.classes_] = log_softmax(scores, axis=1)
    return out


def choose_probe_alpha(task: FeatureTask, fit: ProbeFit, alpha: float | str, class_weight: str | None) -> AlphaChoice:
    """``--alpha`` as given, or chosen on out-of-fold probe log-probabilities of the training rows (the C search's folds)."""
    from sklearn.linear_model import LogisticRegression

    if alpha != AUTO:
        return fixed_alpha(float(alpha))
    if fit.splits is None:
        return fallback_alpha(FALLBACK_ALPHA)
    x, y = task.train_features, task.train_labels
    held_out = np.zeros((len(y), task.n_classes))
    for rows, held in fit.splits:
        fold_probe = LogisticRegression(C=fit.C, max_iter=MAX_ITER, class_weight=class_weight).fit(x[rows], y[rows])
        held_out[held] = _log_probs(fold_probe, x[held], task.n_classes)
    return choose_alpha(task.zeroshot.logits(x), y, [({}, held_out)], ALPHAS, "interpolate", len(fit.splits), task.metric, task.classes)


@dataclass(frozen=True, kw_only=True)
class ProbeParams(FeatureHeadParams):
    cs: tuple[float, ...] = param(
        DEFAULT_CS,
        "comma-separated C values to search (default: 15 values from 1e-3 to 1e4)",
        low=0.0,
        low_open=True,
        shown_default="",
        sweep=SearchRange(1e-3, 1e4, "log"),
    )
    class_weight: str | None = param(None, "weight classes inversely to their frequency", choices=("balanced",))
    cv_folds: int = param(5, "cross-validation folds on the training rows that choose C", low=2)
    alpha: float | str = alpha_param(
        1.0, "weight of the probe's log-probabilities against zero-shot's, (1-alpha) zero-shot + alpha probe", high=1.0, sweep=SearchRange(0.0, 1.0)
    )
    init: str = param("zeros", "start the final fit from zeros or from the zero-shot text classifier", choices=("zeros", "zeroshot"))


@dataclass(frozen=True)
class ProbeModel:
    """The fitted head: the probe's probabilities, or their blend with zero-shot's in log-probability space (α < 1)."""

    estimator: LogisticRegression
    n_classes: int
    alpha: float
    zeroshot: ZeroShotClassifier | None

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if self.zeroshot is None:
            probs = np.zeros((len(features), self.n_classes))
            probs[:, self.estimator.classes_] = self.estimator.predict_proba(features)
            return probs
        from scipy.special import softmax

        from .blend import blend

        logits = blend(self.zeroshot.logits(features), _log_probs(self.estimator, features, self.n_classes), self.alpha, "interpolate")
        return softmax(logits, axis=1)


def fit_probe_task(task: FeatureTask, params: ProbeParams) -> Fitted:
    """The probe of one fold: C chosen on its training rows, blended with zero-shot by ``alpha``."""
    check_every_class_present(task.train_labels, task.classes, "the training rows")
    init = zeroshot_coef(task.zeroshot) if params.init == "zeroshot" else None
    fit = fit_probe(
        task.train_features,
        task.train_labels,
        cs=params.cs,
        class_weight=params.class_weight,
        cv_folds=params.cv_folds,
        seed=task.seed,
        init_coef=init,
        metric=task.metric,
        classes=task.classes,
    )
    choice = choose_probe_alpha(task, fit, params.alpha, params.class_weight)
    info = {"chosen_C": fit.C, f"cv_{fit.metric}": fit.cv_score, "cv_folds": fit.cv_folds, **choice.info()}
    zeroshot = None if choice.alpha == 1.0 else task.zeroshot
    return Fitted(ProbeModel(fit.estimator, task.n_classes, choice.alpha, zeroshot), info)


def _describe(run: Run) -> str:
    text = f"chosen C per fold: {run.metrics['chosen_C']} (cross-validated {run.metric} {run.metrics.get(f'cv_{run.metric}')})"
    if run.config.get("alpha") != 1.0:
        text += f"; alpha per fold: {run.metrics['alpha']} ({run.metrics['alpha_chosen_by'][0]})"
    return text


HEAD = Head(
    name="probe",
    help="linear-probe Run: logistic regression on CLIP features, C by cross-validation (--alpha: blended with zero-shot)",
    params=ProbeParams,
    fit=fit_probe_task,
    rank=20,
    describe=_describe,
)

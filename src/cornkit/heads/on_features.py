"""Heads on cached CLIP features share one shape: fit a model on some rows, let it predict any others.

A features head declares ``fit(task, params) -> Fitted`` on its :class:`~cornkit.heads.registry.Head`:
the returned model has ``predict_proba(features)`` (scikit-learn's convention) and is saved with
the Run, so ``cornkit predict`` can apply it to images it has never seen. :func:`features_run`
runs ``fit`` on every fold of the saved split (training rows in, validation and test rows
predicted) through the one fold runner (:mod:`cornkit.runs.folds`); ``cornkit shots`` runs the
same function on k-shot subsets. A task's zero-shot classifier (for heads that start from or
mix with zero-shot) is built only when a head asks for it, and once: a probe that never mixes
never loads the CLIP model, it reads cached features only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..clip.params import ClipParams, PromptParams
from ..errors import CornkitError
from ..metric_names import DEFAULT_METRIC
from ..params import seed_param

if TYPE_CHECKING:
    from ..clip.augmented import AugmentedViews
    from ..clip.model import ClipSpec
    from ..clip.text_classifier import ZeroShotClassifier
    from ..runs.run import Run
    from .registry import HeadContext

FEATURE_MODEL_FILE = "model.joblib"


@dataclass(frozen=True, kw_only=True)
class FeatureHeadParams(PromptParams, ClipParams):
    """What every head on CLIP features takes: the CLIP model and how it runs, the prompt set, the seed."""

    seed: int = seed_param()


class FeatureModel(Protocol):
    """A fitted features head: class probabilities (rows sum to 1) of L2-normalised CLIP features."""

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


class FeatureTask:
    """One fit: training features with class indices, and (on demand) the zero-shot classifier and augmented views."""

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        classes: tuple[str, ...],
        seed: int,
        zeroshot_source: Callable[[], ZeroShotClassifier],
        train_ids: np.ndarray | None = None,
        views_source: Callable[[int], AugmentedViews] | None = None,
        metric: str = DEFAULT_METRIC,
    ) -> None:
        self.train_features = train_features
        self.train_labels = train_labels
        self.classes = classes
        self.seed = seed
        self._zeroshot_source = zeroshot_source
        self.train_ids = train_ids
        self._views_source = views_source
        self.metric = metric
        """The competition's metric (the split's): what a head's choices on the training rows optimise."""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @functools.cached_property
    def zeroshot(self) -> ZeroShotClassifier:
        """The prompt set's text classifier (loads the CLIP model's text tower the first time any task asks)."""
        return self._zeroshot_source()

    def augmented_views(self, n_views: int) -> np.ndarray:
        """``n_views`` augmented embeddings of each training row, shape ``(n_views, n_train, dim)`` (cached; see :mod:`cornkit.clip.augmented`)."""
        if self._views_source is None or self.train_ids is None:
            raise CornkitError("augmented views need the training images: this task has features only; give augment_views=0 (--augment-views 0).")
        return self._views_source(n_views).rows(self.train_ids)


@dataclass
class Fitted:
    """A head's answer for one task: the fitted model (it predicts any rows) and facts for the Run's metrics."""

    model: FeatureModel
    info: dict[str, Any] = field(default_factory=dict)


FitFeatures = Callable[[FeatureTask, Any], Fitted]


class ZeroShotSource:
    """Builds the zero-shot classifier of the task's CLIP model and prompt set once, and remembers whether it was used."""

    def __init__(self, ctx: HeadContext) -> None:
        self.ctx = ctx
        self.prompts_config: dict[str, Any] | None = None
        self._classifier: ZeroShotClassifier | None = None

    def __call__(self) -> ZeroShotClassifier:
        if self._classifier is None:
            from ..clip.model import load_clip
            from ..clip.prompts import load_prompt_file
            from ..clip.text_classifier import build_classifier

            params: FeatureHeadParams = self.ctx.params
            prompt_set = load_prompt_file(params.prompts, self.ctx.dataset.classes).get(params.prompt_set)
            self.prompts_config = prompt_set.as_config()
            self._classifier = build_classifier(load_clip(params.clip_spec(), params.device), prompt_set, self.ctx.dataset.classes)
        return self._classifier


def class_indices(labels: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Class names as indices into ``classes``."""
    position = {name: k for k, name in enumerate(classes)}
    return np.array([position[str(label)] for label in labels], dtype=np.int64)


def check_every_class_present(labels: np.ndarray, classes: tuple[str, ...], where: str) -> None:
    """A head cannot learn a class it never sees: say so instead of predicting NaN or nothing for it."""
    missing = [name for k, name in enumerate(classes) if not (labels == k).any()]
    if missing:
        raise CornkitError(f"{where} have no row of class(es) {missing}: every class needs training rows. Use a split with each class in training.")


def _augmented_views(ctx: HeadContext, n_views: int) -> AugmentedViews:
    from ..clip.augmented import extract_augmented_views

    params: FeatureHeadParams = ctx.params
    return extract_augmented_views(ctx.dataset, ctx.work, params.clip_spec(), n_views, seed=ctx.seed, **params.extraction_options())


def clip_details(spec: ClipSpec, identity: dict[str, Any]) -> dict[str, Any]:
    """What a saved features model needs to embed new images: the CLIP model, weights as given, and their identity."""
    return {"clip": {"model": spec.model, "pretrained": spec.pretrained, "flip_tta": spec.flip_tta}, "identity": identity}


class FeatureFitter:
    """Fits a features head on any training rows of the split: a fold of its Run, or an inner fold of a sweep's objective.

    The features are read once, and the zero-shot classifier and augmented views are built the
    first time a fit asks for them, whichever rows it fits on.
    """

    def __init__(self, ctx: HeadContext, fit: FitFeatures) -> None:
        self.ctx = ctx
        self.fit = fit
        self.features = ctx.features()
        self.zeroshot = ZeroShotSource(ctx)
        self._views = functools.cache(functools.partial(_augmented_views, ctx))

    def fit_rows(self, train_ids: np.ndarray, where: str) -> Fitted:
        """The head fitted on the training rows ``train_ids`` (``where`` names them in the error when a class has none)."""
        split, classes = self.ctx.split, self.ctx.dataset.classes
        labels = class_indices(split.labels_of(train_ids), classes)
        check_every_class_present(labels, classes, where)
        task = FeatureTask(
            self.features.rows("train", train_ids),
            labels,
            classes,
            self.ctx.seed,
            self.zeroshot,
            train_ids=train_ids,
            views_source=self._views,
            metric=split.metric,
        )
        return self.fit(task, self.ctx.params)


def features_run(ctx: HeadContext, fit: FitFeatures, *, approach: str, config: dict[str, Any]) -> Run:
    """Fit ``fit`` on each fold's training rows, predict its validation rows and the test rows, save the Run with its fold models.

    Validation probabilities are out-of-fold with a k-fold split; test probabilities are the
    mean over folds (as ``cornkit predict`` computes them from the saved fold models). Each
    ``Fitted.info`` key becomes a metric with one value per fold.
    """
    from ..runs.folds import FoldOutput, run_from_folds
    from ..runs.model import RunModel
    from ..runs.run import save_run

    params: FeatureHeadParams = ctx.params
    fitter = ctx.feature_fitter(fit)
    features, split, classes = fitter.features, ctx.split, ctx.dataset.classes
    models: list[FeatureModel] = []

    def fit_fold(fold: int) -> FoldOutput:
        valid_ids = split.valid_ids(fold)
        fitted = fitter.fit_rows(split.train_ids(fold), f"the training rows of fold {fold}")
        models.append(fitted.model)
        return FoldOutput(valid_ids, fitted.model.predict_proba(features.rows("train", valid_ids)), fitted.model.predict_proba(features.test), fitted.info)

    outputs = [fit_fold(fold) for fold in range(split.n_folds)]
    spec = params.clip_spec()
    identity = spec.identity()  # a checkpoint file's identity reads its first and last MiB: once
    run_config = {"clip": identity, "random_weights": spec.is_random, "features": features.key, **config}
    if fitter.zeroshot.prompts_config is not None:
        run_config["prompts"] = fitter.zeroshot.prompts_config
    run = run_from_folds(
        approach=approach,
        model=spec.label,
        classes=classes,
        split=split,
        outputs=outputs,
        test_ids=features.test_ids,
        config=run_config,
        seed=ctx.seed,
    )
    run.fitted = RunModel(kind="features", details=clip_details(spec, identity), objects={FEATURE_MODEL_FILE: models})
    save_run(run, ctx.work)
    return run

"""Heads on cached CLIP features share one shape: fit on some rows, predict others.

A features head declares ``fit_features(task, args) -> Fitted`` on its :class:`~cornkit.heads.registry.Head`.
:func:`features_run` runs it on every fold of the saved split (training rows in, validation
and test rows out), so out-of-fold validation with a k-fold split, averaged test
probabilities, the Run's config and metrics are written once for every such head; ``cornkit
shots`` runs the same function on k-shot subsets. A task's zero-shot classifier (for heads
that start from or mix with zero-shot) is built only when a head asks for it, and once: a probe
that never mixes never loads the CLIP model, it reads cached features only.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CornkitError

if TYPE_CHECKING:
    from ..clip.augmented import AugmentedViews
    from ..clip.text_classifier import ZeroShotClassifier
    from ..runs.run import Run
    from .registry import HeadContext


class FeatureTask:
    """One fit: training features with class indices, the rows to predict, and (on demand) the zero-shot classifier."""

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        eval_features: np.ndarray,
        classes: tuple[str, ...],
        seed: int,
        zeroshot_source: Callable[[], ZeroShotClassifier],
        train_ids: np.ndarray | None = None,
        views_source: Callable[[int], AugmentedViews] | None = None,
    ) -> None:
        self.train_features = train_features
        self.train_labels = train_labels
        self.eval_features = eval_features
        self.classes = classes
        self.seed = seed
        self._zeroshot_source = zeroshot_source
        self.train_ids = train_ids
        self._views_source = views_source

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
            raise CornkitError("augmented views need the training images: this task has features only; drop --augment-views.")
        return self._views_source(n_views).rows(self.train_ids)


@dataclass
class Fitted:
    """A head's answer for one task: probabilities of the eval rows, facts for the metrics, what to save."""

    probs: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    artifact: Any = None


FitFeatures = Callable[[FeatureTask, argparse.Namespace], Fitted]


class ZeroShotSource:
    """Builds the zero-shot classifier of ``--model``/``--pretrained``/``--prompts``/``--prompt-set`` once, and remembers whether it was used."""

    def __init__(self, ctx: HeadContext) -> None:
        self.ctx = ctx
        self.prompts_config: dict[str, Any] | None = None
        self._classifier: ZeroShotClassifier | None = None

    def __call__(self) -> ZeroShotClassifier:
        if self._classifier is None:
            from ..clip.model import load_clip
            from ..clip.prompts import load_prompt_file
            from ..clip.text_classifier import build_classifier

            prompt_set = load_prompt_file(self.ctx.args.prompts, self.ctx.dataset.classes).get(self.ctx.args.prompt_set)
            self.prompts_config = prompt_set.as_config()
            self._classifier = build_classifier(load_clip(self.ctx.clip_spec, self.ctx.args.device), prompt_set, self.ctx.dataset.classes)
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

    return extract_augmented_views(ctx.dataset, ctx.work, ctx.clip_spec, n_views, seed=ctx.seed, **ctx.clip_options)


def features_run(ctx: HeadContext, fit: FitFeatures, *, approach: str, config: dict[str, Any]) -> Run:
    """Fit ``fit`` on each fold's training rows, predict its validation rows and the test rows, save the Run.

    Validation probabilities are out-of-fold with a k-fold split; test probabilities are the
    mean over folds. Each ``Fitted.info`` key becomes a metric with one value per fold, and the
    artifacts (if any) are saved with the Run as ``<approach>.joblib``.
    """
    from ..runs.run import make_run, save_run

    features = ctx.features()
    split, classes = ctx.split, ctx.dataset.classes
    zeroshot = ZeroShotSource(ctx)
    views = functools.cache(functools.partial(_augmented_views, ctx))
    val_probs: dict[int, np.ndarray] = {}
    test_probs = np.zeros((len(features.test_ids), len(classes)))
    infos, artifacts = [], []
    for fold in range(split.n_folds):
        train_ids, valid_ids = split.train_ids(fold), split.valid_ids(fold)
        labels = class_indices(split.labels_of(train_ids), classes)
        check_every_class_present(labels, classes, f"the training rows of fold {fold}")
        valid_features = features.rows("train", valid_ids)
        eval_features = np.vstack([valid_features, features.test])
        task = FeatureTask(features.rows("train", train_ids), labels, eval_features, classes, ctx.seed, zeroshot, train_ids=train_ids, views_source=views)
        fitted = fit(task, ctx.args)
        val_probs.update(zip(valid_ids.tolist(), fitted.probs[: len(valid_ids)], strict=True))
        test_probs += fitted.probs[len(valid_ids) :] / split.n_folds
        infos.append(fitted.info)
        artifacts.append(fitted.artifact)
    run_config = {"clip": ctx.clip_spec.identity(), "random_weights": ctx.clip_spec.is_random, "features": features.key, **config}
    if zeroshot.prompts_config is not None:
        run_config["prompts"] = zeroshot.prompts_config
    run = make_run(
        approach=approach,
        model=ctx.clip_spec.label,
        classes=classes,
        split=split,
        val_probs=np.stack([val_probs[int(i)] for i in split.evaluation_ids()]),
        test_ids=features.test_ids,
        test_probs=test_probs,
        config=run_config,
        seed=ctx.seed,
    )
    for key in infos[0]:
        run.metrics[key] = [info[key] for info in infos]
    if any(a is not None for a in artifacts):
        import joblib

        save_run(run, ctx.work, write_artifacts=lambda folder: joblib.dump(artifacts, folder / f"{approach}.joblib"))
    else:
        save_run(run, ctx.work)
    return run

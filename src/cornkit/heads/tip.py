"""Tip-Adapter and Tip-Adapter-F on cached CLIP features (Zhang et al., ECCV 2022).

The training rows become a key-value cache: keys are their (unit) image features, values
their one-hot labels. An image's cache logits are ``exp(-β(1 - cos(image, key))) @ values``,
a soft vote of the training images that look like it, sharper for larger β; they are added to
CLIP's zero-shot logits with weight α. The paper's CLIP logits are ``100 · cos`` and its α is
relative to that scale, so here the cache logits are multiplied by ``logit_scale / 100`` (1 for
the released CLIP and OpenCLIP weights, whose logit scale is 100): the paper's α and β mean
the same thing for every model.

``--epochs N`` is Tip-Adapter-F: the keys become parameters fine-tuned with AdamW (lr 1e-3,
eps 1e-4, cosine schedule, batches of 256, as the paper) on the cross-entropy of the mixed
logits of the training rows. A row never sees its own key while the keys are tuned (its own
entry is masked out, a leave-one-out cache), otherwise every row would match itself with
affinity 1; the paper relies on random augmentation to soften that self-match.

``--augment-views K`` caches K augmented views per training image (random resized crops and
flips, :mod:`cornkit.clip.augmented`): the keys are the normalised mean of a row's views (as
the paper builds its cache from 10 augmented epochs) and Tip-Adapter-F trains epoch ``e`` on
view ``e mod K``.

``--alpha auto`` / ``--beta auto`` (the defaults) are chosen by cross-validation on the training
rows, and with ``--epochs N`` so is the number of epochs (0..N: the tuned cache after each
epoch is scored on the held-out fold); the paper searched them on a validation set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..params import AUTO, SearchRange, param
from .blend import AlphaChoice, alpha_param, choose_alpha, cv_splits, fallback_alpha, fixed_alpha
from .on_features import FeatureHeadParams, FeatureTask, Fitted, check_every_class_present
from .registry import Head
from .tip_cache import cache_keys, cache_logits, fine_tune_keys, one_hot

if TYPE_CHECKING:
    from ..clip.text_classifier import ZeroShotClassifier
    from ..runs.run import Run

ALPHAS: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
BETAS: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0)
INIT_ALPHA = INIT_BETA = 1.0
"""The paper's starting values: used to fine-tune the keys, and where α or β cannot be cross-validated."""
PAPER_LOGIT_SCALE = 100.0


@dataclass(frozen=True, kw_only=True)
class TipParams(FeatureHeadParams):
    alpha: float | str = alpha_param(AUTO, "weight of the cache logits added to the zero-shot logits (the paper's alpha)", sweep=SearchRange(0.1, 10.0, "log"))
    beta: float | str = param(
        AUTO,
        "sharpness of the cache's affinity exp(-beta(1-cos)); 'auto' chooses on training folds",
        low=0.0,
        low_open=True,
        auto=True,
        sweep=SearchRange(0.5, 7.0),
    )
    epochs: int = param(0, "Tip-Adapter-F: epochs of fine-tuning the cache keys (0: training-free Tip-Adapter)", low=0)
    lr: float = param(1e-3, "AdamW learning rate of Tip-Adapter-F (the paper's)", low=0.0, low_open=True)
    augment_views: int = param(0, "augmented views per training image in the cache (the paper uses 10; cached)", low=0)


@dataclass(frozen=True)
class TipModel:
    """The fitted head: zero-shot logits plus α times the (scaled) cache logits of the keys."""

    zeroshot: ZeroShotClassifier
    keys: np.ndarray
    values: np.ndarray
    alpha: float
    beta: float
    cache_scale: float

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        (cache,) = cache_logits(features, self.keys, self.values, (self.beta,))
        return softmax(self.zeroshot.logits(features) + self.alpha * self.cache_scale * cache, axis=1)


def _views_of(views: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if views is None else views[:, rows]


def _epoch_inputs(features: np.ndarray, views: np.ndarray | None) -> list[np.ndarray]:
    """What Tip-Adapter-F trains on each epoch: the row's views in turn, or its features."""
    return [features] if views is None else list(views)


def _held_out_scorer(
    terms: dict[tuple[int, float], np.ndarray], held_features: np.ndarray, held: np.ndarray, values: np.ndarray, betas: Sequence[float], scale: float
) -> Callable[[int, np.ndarray], None]:
    """Records the held-out rows' scaled cache logits, for every β, of the keys after ``epoch`` epochs."""

    def score(epoch: int, keys: np.ndarray) -> None:
        for beta, logits in zip(betas, cache_logits(held_features, keys, values, betas), strict=True):
            terms[(epoch, beta)][held] = scale * logits

    return score


def choose_tip(task: FeatureTask, params: TipParams, views: np.ndarray | None, scale: float) -> tuple[AlphaChoice, float, int]:
    """α, β and the epoch count: as given, or chosen on out-of-fold cache logits of the training rows."""
    x, y = task.train_features, task.train_labels
    alphas = ALPHAS if params.alpha == AUTO else (float(params.alpha),)
    betas = BETAS if params.beta == AUTO else (float(params.beta),)
    fixed_beta = INIT_BETA if params.beta == AUTO else float(params.beta)
    if params.alpha != AUTO and params.beta != AUTO:
        return fixed_alpha(alphas[0], {"beta": fixed_beta}), fixed_beta, params.epochs
    splits = cv_splits(y, task.seed)
    if splits is None:
        choice = fallback_alpha(INIT_ALPHA if params.alpha == AUTO else alphas[0], {"beta": fixed_beta})
        return choice, fixed_beta, params.epochs
    zeroshot = task.zeroshot.logits(x)
    train_alpha = INIT_ALPHA if params.alpha == AUTO else alphas[0]
    tuned_epochs = params.epochs if train_alpha > 0 else 0
    terms = {(epoch, beta): np.zeros((len(y), task.n_classes)) for epoch in range(tuned_epochs + 1) for beta in betas}
    for fit, held in splits:
        values = one_hot(y[fit], task.n_classes)
        score_held = _held_out_scorer(terms, x[held], held, values, betas, scale)
        keys = cache_keys(x[fit], _views_of(views, fit))
        score_held(0, keys)
        if tuned_epochs:
            inputs = _epoch_inputs(x[fit], _views_of(views, fit))
            fine_tune_keys(
                keys,
                values,
                inputs,
                zeroshot[fit],
                y[fit],
                alpha=train_alpha * scale,
                beta=fixed_beta,
                epochs=tuned_epochs,
                lr=params.lr,
                seed=task.seed,
                after_epoch=score_held,
            )
    candidates = [({"epochs": epoch, "beta": beta} if params.epochs else {"beta": beta}, term) for (epoch, beta), term in terms.items()]
    choice = choose_alpha(zeroshot, y, candidates, alphas, "add", len(splits), task.metric, task.classes)
    return choice, choice.params["beta"], int(choice.params.get("epochs", 0))


def fit_tip_task(task: FeatureTask, params: TipParams) -> Fitted:
    """The cache of one fold's training rows (fine-tuned with ``--epochs``), added to zero-shot."""
    check_every_class_present(task.train_labels, task.classes, "the training rows")
    views = task.augmented_views(params.augment_views) if params.augment_views else None
    x, y = task.train_features, task.train_labels
    scale = task.zeroshot.logit_scale / PAPER_LOGIT_SCALE
    choice, beta, epochs = choose_tip(task, params, views, scale)
    values = one_hot(y, task.n_classes)
    keys = cache_keys(x, views)
    if epochs and choice.alpha > 0:
        # tuned as in the search: at the paper's starting α and β unless they were given
        train_alpha = INIT_ALPHA if params.alpha == AUTO else choice.alpha
        train_beta = INIT_BETA if params.beta == AUTO else beta
        inputs = _epoch_inputs(x, views)
        keys = fine_tune_keys(
            keys, values, inputs, task.zeroshot.logits(x), y, alpha=train_alpha * scale, beta=train_beta, epochs=epochs, lr=params.lr, seed=task.seed
        )
    info = {**choice.info(), "beta": beta, "epochs": epochs}
    return Fitted(TipModel(task.zeroshot, keys, values, choice.alpha, beta, scale), info)


def _describe(run: Run) -> str:
    epochs = f", epochs {run.metrics['epochs']}" if any(run.metrics["epochs"]) else ""
    return f"alpha per fold: {run.metrics['alpha']}, beta {run.metrics['beta']}{epochs} ({run.metrics['alpha_chosen_by'][0]})"


HEAD = Head(
    name="tip",
    help="Tip-Adapter: a cache of the training features added to zero-shot (--epochs N: Tip-Adapter-F), Zhang et al. ECCV 2022",
    params=TipParams,
    fit=fit_tip_task,
    demo={"epochs": 2},
    rank=40,
    describe=_describe,
)

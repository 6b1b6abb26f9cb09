"""The training recipe as fastai callbacks around timm's pieces: loss, mixup/cutmix, EMA, accumulation, schedule.

Only glue lives here: timm's ``Mixup`` mixes the batch and makes the soft (label-smoothed)
targets, timm's ``ModelEmaV3`` keeps the moving average, fastai's ``GradientAccumulation`` and
``ParamScheduler`` do accumulation and the learning-rate schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.callback.schedule import ParamScheduler, SchedCos, SchedLin, combine_scheds
from fastai.callback.training import GradientAccumulation
from fastai.learner import Learner
from fastai.torch_core import get_model
from timm.data import Mixup
from timm.utils import ModelEmaV3
from torch import nn

from .settings import FinetuneSettings

EMA_ORDER = 55  # after_fit before fastai's SaveModelCallback (60), which then loads the best epoch's EMA weights


class RecipeLoss(nn.Module):
    """Cross-entropy with label smoothing and class weights; soft targets (from mixup) are taken as they come.

    ``activation`` and ``decodes`` make fastai's ``get_preds`` return probabilities and ``predict`` a class.
    """

    weight: torch.Tensor | None

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.is_floating_point():
            log_probs = F.log_softmax(logits.float(), dim=1)
            per_class = -target * log_probs * (self.weight if self.weight is not None else 1.0)
            return per_class.sum(dim=1).mean()
        return F.cross_entropy(logits.float(), target, weight=self.weight, label_smoothing=self.label_smoothing)

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits, dim=-1)

    def decodes(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1)


class MixupCutmix(Callback):
    """timm's ``Mixup`` on every training batch: mixed images and soft targets (validation batches stay as they are)."""

    run_valid = False

    def __init__(self, settings: FinetuneSettings, n_classes: int):
        self.mixer = Mixup(
            mixup_alpha=settings.mixup,
            cutmix_alpha=settings.cutmix,
            prob=settings.mix_prob,
            label_smoothing=settings.label_smoothing,
            num_classes=n_classes,
        )

    def before_batch(self) -> None:
        images, target = self.mixer(self.xb[0], self.yb[0])
        self.learn.xb, self.learn.yb = (images, *self.xb[1:]), (target,)


class ExponentialMovingAverage(Callback):
    """timm's ``ModelEmaV3`` of the weights, updated after each optimizer step.

    The monitor rows are scored with the EMA weights (so the best epoch is the best EMA), and
    at the end of training the EMA weights replace the raw ones: they are what is evaluated,
    interpolated and exported. The decay warms up (timm's ``use_warmup``) so a short
    fine-tune averages over its recent steps rather than staying near the initial weights.
    It averages the bare model, also while DDP wraps it for the fit.
    """

    order = EMA_ORDER

    def __init__(self, decay: float):
        self.decay = decay
        self.ema: ModelEmaV3 | None = None
        self.steps = 0
        self.raw: dict[str, torch.Tensor] | None = None

    def before_fit(self) -> None:
        if self.ema is None:  # one average across the LP and FT phases
            self.ema = ModelEmaV3(self.model, decay=self.decay, use_warmup=True)

    @property
    def model(self) -> nn.Module:
        return get_model(self.learn.model)

    def after_step(self) -> None:
        assert self.ema is not None
        self.steps += 1
        self.ema.update(self.model, step=self.steps)

    def before_validate(self) -> None:
        self.raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._load_ema()

    def before_train(self) -> None:
        if self.raw is not None:
            self.model.load_state_dict(self.raw)
            self.raw = None

    def after_fit(self) -> None:
        self._load_ema()
        self.raw = None

    def _load_ema(self) -> None:
        assert self.ema is not None
        self.model.load_state_dict(self.ema.module.state_dict())


def recipe_callbacks(settings: FinetuneSettings, n_classes: int) -> list[Callback]:
    """Mixup/cutmix and gradient accumulation, as asked (EMA is made once per fold by the caller)."""
    cbs: list[Callback] = []
    if settings.mixes:
        cbs.append(MixupCutmix(settings, n_classes))
    if settings.accum > 1:
        cbs.append(GradientAccumulation(n_acc=settings.accum * settings.batch_size))
    return cbs


def fit_phase(learn: Learner, settings: FinetuneSettings, epochs: int, lrs: np.ndarray, cbs: Sequence[Callback]) -> None:
    """``epochs`` epochs at peak rates ``lrs`` (one per parameter group): fastai's one-cycle, or linear warmup then cosine."""
    if settings.schedule == "one-cycle":
        learn.fit_one_cycle(epochs, lrs, pct_start=max(settings.warmup, 1e-3), cbs=list(cbs))
        return
    if settings.warmup > 0:
        lr_sched = combine_scheds([settings.warmup, 1 - settings.warmup], [SchedLin(lrs / 25, lrs), SchedCos(lrs, lrs / 1e5)])
    else:
        lr_sched = SchedCos(lrs, lrs / 1e5)
    learn.fit(epochs, lr=lrs, cbs=[ParamScheduler({"lr": lr_sched}), *cbs])

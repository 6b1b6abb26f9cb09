"""``cornkit convnext``: ``finetune`` with a ConvNeXt from timm and the plain fastai recipe, as a preset.

Its parameters are a few of :class:`~cornkit.train.settings.FinetuneSettings`' (the same
declarations, :func:`cornkit.params.same_as`; ``size`` defaults to 224 px) plus ``arch`` and
``freeze_epochs``; :meth:`ConvnextParams.settings` lays them over :data:`CONVNEXT_RECIPE`, the
fine-tune settings the command has always meant: fastai's pooled head, no label smoothing,
mixup, EMA, layer decay or stochastic depth, the body at a tenth of the head's rate. Random
weights (``pretrained="none"``) have nothing worth keeping frozen or protecting with a lower
body rate, so then every layer trains at the full rate from the start. Any timm backbone works
through ``arch``; ConvNeXt is the default because the seed's study and the winners built on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..defaults import CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from ..params import Params, param, same_as
from ..train.settings import FinetuneSettings
from .registry import Head, HeadContext

if TYPE_CHECKING:
    from ..runs.run import Run

APPROACH = "convnext"
CONVNEXT_RECIPE = FinetuneSettings(head="fastai", label_smoothing=0.0, drop_path=0.0)
"""The plain fastai recipe: what ``cornkit convnext`` changes in the fine-tune defaults."""
SHARED = ("size", "epochs", "batch_size", "lr", "balance", "tta", "fold", "monitor_frac", "patience", "device", "seed", "image_store")


@dataclass(frozen=True, kw_only=True)
class ConvnextParams(Params):
    """The ``convnext`` command's parameters; every shared one is the fine-tune's own declaration."""

    arch: str = param(CONVNEXT_ARCH, "timm model name, with or without a pretrained tag")
    pretrained: str = same_as(
        FinetuneSettings, "pretrained", default=TIMM_HUB, help="'hub' (timm weights from the Hugging Face hub), a timm checkpoint file, or 'none'"
    )
    freeze_epochs: int = param(1, "epochs with the backbone frozen first (pretrained weights only)", low=0)
    size: int | None = same_as(FinetuneSettings, "size", default=224)
    epochs: int = same_as(FinetuneSettings, "epochs")
    batch_size: int = same_as(FinetuneSettings, "batch_size")
    lr: float | None = same_as(FinetuneSettings, "lr")
    balance: str = same_as(FinetuneSettings, "balance")
    tta: bool = same_as(FinetuneSettings, "tta")
    fold: int | None = same_as(FinetuneSettings, "fold")
    monitor_frac: float = same_as(FinetuneSettings, "monitor_frac")
    patience: int | None = same_as(FinetuneSettings, "patience")
    device: str | None = same_as(FinetuneSettings, "device")
    seed: int = same_as(FinetuneSettings, "seed")
    image_store: str = same_as(FinetuneSettings, "image_store")

    def settings(self) -> FinetuneSettings:
        """The fine-tune settings of these parameters: :data:`CONVNEXT_RECIPE` with them laid over it."""
        random = self.pretrained.lower() == RANDOM_WEIGHTS
        return dataclasses.replace(
            CONVNEXT_RECIPE,
            backbone=f"timm:{self.arch}",
            pretrained=self.pretrained,
            lp_epochs=0 if random else self.freeze_epochs,
            body_lr_mult=1.0 if random else CONVNEXT_RECIPE.body_lr_mult,
            **{name: getattr(self, name) for name in SHARED},
        )


def _make_run(ctx: HeadContext) -> Run:
    from ..train.epoch_report import epoch_report_callbacks
    from ..train.finetune import train_finetune

    return train_finetune(
        ctx.dataset, ctx.split, ctx.work, ctx.params.settings(), approach=APPROACH, cbs=epoch_report_callbacks(ctx.epoch_report, ctx.split.metric)
    )


HEAD = Head(
    name=APPROACH,
    help="fine-tune a timm backbone (ConvNeXt by default) with the plain fastai recipe (a Run; `finetune` has the full recipe)",
    params=ConvnextParams,
    make_run=_make_run,
    inputs="images",
    demo={"arch": "convnext_atto", "pretrained": "none", "epochs": 2, "size": 64, "batch_size": 16, "lr": 2e-3},
    rank=50,
)

"""``cornkit finetune``: fine-tune any timm model or the image tower of any open_clip model (a Run).

The parameters are :class:`~cornkit.train.settings.FinetuneSettings`, the one declaration of
the recipe (the flags, ``run_head("finetune", ...)`` and the Run's config come from it); the
training is in :mod:`cornkit.train` (every import of fastai, timm or open_clip waits until a
Run is made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..train.settings import FinetuneSettings
from .registry import Head, HeadContext

if TYPE_CHECKING:
    from ..runs.run import Run

APPROACH = "finetune"


def _make_run(ctx: HeadContext) -> Run:
    from ..train.epoch_report import epoch_report_callbacks
    from ..train.finetune import train_finetune

    return train_finetune(ctx.dataset, ctx.split, ctx.work, ctx.params, cbs=epoch_report_callbacks(ctx.epoch_report, ctx.split.metric))


def _describe(run: Run) -> str:
    config = run.config
    recipe = ", ".join(
        f"{name} {config[name]}" for name in ("lp_epochs", "epochs", "mixup", "cutmix", "label_smoothing", "ema", "llrd", "wise") if config.get(name)
    )
    return f"{config['backbone']}: {recipe}"


HEAD = Head(
    name=APPROACH,
    help="fine-tune any timm model or a CLIP image tower with fastai on the split (a Run)",
    params=FinetuneSettings,
    make_run=_make_run,
    inputs="images",
    demo={
        "backbone": "clip:cornkit-tiny-clip",
        "pretrained": "none",
        "epochs": 1,
        "lp_epochs": 1,
        "batch_size": 16,
        "lr": 1e-3,
        "mixup": 0.2,
        "ema": 0.99,
        "wise": "auto",
    },
    rank=55,
    describe=_describe,
)

"""``cornkit convnext``: ``finetune`` with a ConvNeXt from timm and the plain fastai recipe (flags and kernel recipe here).

Any timm backbone works through ``--arch``; ConvNeXt is the default because the seed's study
and the winners built on it. The training is :func:`cornkit.train.convnext.train_convnext`;
every import of fastai or timm waits until a Run is made.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..cli.argtypes import int_at_least, non_negative_int, pretrained
from ..defaults import CONVNEXT_ARCH, TIMM_HUB
from .finetune import add_training_arguments
from .registry import Head, HeadContext, KernelRecipe

if TYPE_CHECKING:
    from ..runs.run import Run

APPROACH = "convnext"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=CONVNEXT_ARCH, help=f"timm model name, with or without a pretrained tag (default {CONVNEXT_ARCH})")
    parser.add_argument(
        "--pretrained",
        default=TIMM_HUB,
        type=pretrained,
        help="'hub' (timm weights from the Hugging Face hub), a timm checkpoint file, or 'none' (random weights, tests only)",
    )
    parser.add_argument("--freeze-epochs", type=non_negative_int, default=1, help="epochs with the backbone frozen first (pretrained weights only; default 1)")
    parser.add_argument("--size", type=int_at_least(32), default=224, help="square input size in pixels (default 224)")
    add_training_arguments(parser)


def _make_run(ctx: HeadContext) -> Run:
    from ..train.convnext import train_convnext

    args = ctx.args
    return train_convnext(
        ctx.dataset,
        ctx.split,
        ctx.work,
        arch=args.arch,
        pretrained=args.pretrained,
        epochs=args.epochs,
        freeze_epochs=args.freeze_epochs,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        balance=args.balance,
        tta=not args.no_tta,
        seed=ctx.seed,
        fold=args.fold,
        patience=args.patience,
        monitor_frac=args.monitor_frac,
        image_store=args.image_store,
        device=args.device,
    )


HEAD = Head(
    name=APPROACH,
    help="fine-tune a timm backbone (ConvNeXt by default) with the plain fastai recipe (a Run; `finetune` has the full recipe)",
    make_run=_make_run,
    add_arguments=_add_arguments,
    inputs="images",
    kernel=KernelRecipe(
        title="cornkit ConvNeXt baseline",
        explanation=(
            "A ConvNeXt from timm, pretrained on ImageNet, fine-tuned with fastai on the training "
            "rows; predictions with test-time augmentation. The baseline the winners improved on."
        ),
        model=CONVNEXT_ARCH,
        model_flag="--arch",
    ),
    demo_args=("--arch", "convnext_atto", "--pretrained", "none", "--epochs", "2", "--size", "64", "--batch-size", "16", "--lr", "2e-3"),
    rank=50,
)

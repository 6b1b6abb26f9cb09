"""The fastai ConvNeXt fine-tune as a head: flags and kernel recipe here, the training in :mod:`cornkit.train`.

Any timm backbone works through ``--arch``; ConvNeXt is the default because the seed's study
and the winners built on it. Every import of fastai or timm waits until a Run is made.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..cli import argtypes
from ..defaults import BALANCE_MODES, CONVNEXT_ARCH, TIMM_HUB
from .registry import Head, HeadContext, KernelRecipe

if TYPE_CHECKING:
    from ..runs.run import Run

APPROACH = "convnext"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=CONVNEXT_ARCH, help=f"timm model name, with or without a pretrained tag (default {CONVNEXT_ARCH})")
    parser.add_argument(
        "--pretrained",
        default=TIMM_HUB,
        type=argtypes.pretrained,
        help="'hub' (timm weights from the Hugging Face hub), a timm checkpoint file, or 'none' (random weights, tests only)",
    )
    parser.add_argument("--epochs", type=argtypes.positive_int, default=5, help="epochs after the frozen one(s) (default 5)")
    parser.add_argument(
        "--freeze-epochs", type=argtypes.non_negative_int, default=1, help="epochs with the backbone frozen first (pretrained weights only; default 1)"
    )
    parser.add_argument("--size", type=argtypes.int_at_least(32), default=224, help="square input size in pixels (default 224)")
    parser.add_argument("--batch-size", type=argtypes.positive_int, default=32, help="images per batch (default 32)")
    parser.add_argument("--lr", type=argtypes.positive_float, help="learning rate (default: fastai's lr_find suggestion)")
    parser.add_argument("--balance", choices=BALANCE_MODES, default="none", help="class imbalance: oversample rare classes or weight the loss")
    parser.add_argument("--no-tta", action="store_true", help="predict without test-time augmentation")
    parser.add_argument("--fold", type=argtypes.non_negative_int, help="train only this fold of a k-fold split (default: every fold)")
    parser.add_argument(
        "--monitor-frac",
        type=argtypes.float_in(0.0, 0.5, high_open=True),
        default=0.1,
        help="share of the training rows that pick the best epoch (default 0.1; 0: all rows train, the last epoch is kept)",
    )
    parser.add_argument("--patience", type=argtypes.positive_int, help="stop after this many epochs without a better accuracy on the monitor rows")
    parser.add_argument("--device", type=argtypes.device, help="cpu, cuda, cuda:1, ... (default: cuda if available)")


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
        device=args.device,
    )


HEAD = Head(
    name=APPROACH,
    help="fine-tune a timm backbone with fastai on the split (a Run)",
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
    demo_args=("--arch", "convnext_atto", "--pretrained", "none", "--epochs", "4", "--size", "64", "--batch-size", "16", "--lr", "2e-3"),
    rank=50,
)

"""``cornkit finetune``: fine-tune any timm model or the image tower of any open_clip model (a Run).

Flags here, the training in :mod:`cornkit.train` (every import of fastai, timm or open_clip
waits until a Run is made). Every recipe flag is a field of
:class:`~cornkit.train.settings.FinetuneSettings` and so recorded in the Run's config.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..cli.argtypes import device, float_in, int_at_least, non_negative_int, positive_float, positive_int, pretrained
from ..cli.common import add_image_store_arg
from ..cli.launch import add_launch_args
from ..defaults import BALANCE_MODES, CONVNEXT_ARCH, TIMM_HUB
from .registry import Head, HeadContext, KernelRecipe

if TYPE_CHECKING:
    from ..runs.run import Run
    from ..train.settings import FinetuneSettings

APPROACH = "finetune"
DEFAULT_BACKBONE = f"timm:{CONVNEXT_ARCH}"


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every fine-tune shares (``finetune`` and ``convnext``): size, batch, lr, balance, TTA, folds, monitor rows, device."""
    parser.add_argument("--epochs", type=positive_int, default=5, help="epochs of the whole network (default 5)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=positive_float, help="peak learning rate of the head (default: fastai's lr_find suggestion)")
    parser.add_argument("--balance", choices=BALANCE_MODES, default="none", help="class imbalance: oversample rare classes or weight the loss")
    parser.add_argument("--no-tta", action="store_true", help="predict without test-time augmentation")
    parser.add_argument("--fold", type=non_negative_int, help="train only this fold of a k-fold split (default: every fold)")
    parser.add_argument(
        "--monitor-frac",
        type=float_in(0, 0.5, high_open=True),
        default=0.1,
        help="share of the training rows that pick the best epoch (default 0.1; 0: all rows train, the last epoch is kept)",
    )
    parser.add_argument("--patience", type=positive_int, help="stop after this many epochs without a better accuracy on the monitor rows")
    parser.add_argument("--device", type=device, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    add_image_store_arg(parser)
    add_launch_args(parser, "data-parallel training (DDP; --batch-size is per process)")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, help=f"timm:NAME (any timm model) or clip:MODEL (an open_clip image tower); default {DEFAULT_BACKBONE}"
    )
    parser.add_argument(
        "--pretrained",
        type=pretrained,
        help="timm: 'hub' (default), a checkpoint file or 'none'; clip: an open_clip tag (e.g. laion2b_s34b_b88k), a checkpoint file or 'none'",
    )
    parser.add_argument("--size", type=int_at_least(32), help="square input size in pixels (default: the backbone's; a CLIP tower's is fixed)")
    parser.add_argument(
        "--head", choices=("timm", "fastai"), default="timm", help="classifier: the timm model's own (default) or fastai's pooled head (batch norm, dropout)"
    )
    add_training_arguments(parser)
    parser.add_argument("--lp-epochs", type=non_negative_int, default=1, help="epochs training only the classifier head first (linear probing; default 1)")
    parser.add_argument(
        "--body-lr-mult", type=float_in(0, 1, low_open=True), default=0.1, help="the body's learning rate as a share of the head's (default 0.1)"
    )
    parser.add_argument(
        "--llrd", type=float_in(0, 1, low_open=True), default=1.0, help="layer-wise lr decay per block below the top, e.g. 0.75 (default 1: off)"
    )
    parser.add_argument("--schedule", choices=("one-cycle", "cosine"), default="one-cycle", help="learning-rate schedule (default one-cycle)")
    parser.add_argument("--warmup", type=float_in(0, 1, high_open=True), default=0.25, help="share of each phase's steps spent warming up (default 0.25)")
    parser.add_argument("--mixup", type=float_in(0, 100), default=0.0, help="mixup Beta α, e.g. 0.2 (default 0: off)")
    parser.add_argument("--cutmix", type=float_in(0, 100), default=0.0, help="cutmix Beta α, e.g. 1.0 (default 0: off)")
    parser.add_argument("--mix-prob", type=float_in(0, 1), default=1.0, help="probability that a batch is mixed (default 1)")
    parser.add_argument("--label-smoothing", type=float_in(0, 1, high_open=True), default=0.1, help="label smoothing ε (default 0.1)")
    parser.add_argument(
        "--ema",
        type=float_in(0, 1, low_open=True, high_open=True),
        help="decay of an EMA of the weights, e.g. 0.999; the EMA weights are evaluated and exported",
    )
    parser.add_argument("--accum", type=positive_int, default=1, help="batches per optimizer step (gradient accumulation; default 1)")
    parser.add_argument("--drop-path", type=float_in(0, 1, high_open=True), default=0.1, help="stochastic depth rate of the last block (default 0.1)")
    parser.add_argument("--wise", help="CLIP only: 'auto' (α chosen on the monitor rows) or α in [0, 1]: WiSE-FT interpolation with the zero-shot weights")
    parser.add_argument("--prompts", help="CLIP only: TOML prompt file or Roboflow _tokenization.txt for the zero-shot head (default: the kit's corn prompts)")
    parser.add_argument("--prompt-set", help="CLIP only: set name in the prompt file (default: the file's default)")


def settings_from_args(args: argparse.Namespace, seed: int) -> FinetuneSettings:
    """The settings of ``cornkit finetune``'s flags; a CLIP backbone must name its weights."""
    from ..errors import CornkitError
    from ..train.settings import FinetuneSettings, split_backbone

    is_clip = split_backbone(args.backbone)[0] == "clip"
    if args.pretrained is None and is_clip:
        raise CornkitError(f"--backbone {args.backbone}: give --pretrained, an open_clip tag (e.g. openai), a checkpoint file, or 'none'.")
    return FinetuneSettings(
        backbone=args.backbone,
        pretrained=args.pretrained or TIMM_HUB,
        head=args.head,
        epochs=args.epochs,
        lp_epochs=args.lp_epochs,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        body_lr_mult=args.body_lr_mult,
        schedule=args.schedule,
        warmup=args.warmup,
        mixup=args.mixup,
        cutmix=args.cutmix,
        mix_prob=args.mix_prob,
        label_smoothing=args.label_smoothing,
        ema=args.ema,
        llrd=args.llrd,
        accum=args.accum,
        drop_path=args.drop_path,
        wise=args.wise,
        prompts=args.prompts,
        prompt_set=args.prompt_set,
        balance=args.balance,
        tta=not args.no_tta,
        seed=seed,
        fold=args.fold,
        patience=args.patience,
        monitor_frac=args.monitor_frac,
        image_store=args.image_store,
    )


def _make_run(ctx: HeadContext) -> Run:
    from ..train.finetune import train_finetune

    return train_finetune(ctx.dataset, ctx.split, ctx.work, settings_from_args(ctx.args, ctx.seed), device=ctx.args.device)


def _describe(run: Run) -> str:
    config = run.config
    recipe = ", ".join(
        f"{name} {config[name]}" for name in ("lp_epochs", "epochs", "mixup", "cutmix", "label_smoothing", "ema", "llrd", "wise") if config.get(name)
    )
    return f"{config['backbone']}: {recipe}"


HEAD = Head(
    name=APPROACH,
    help="fine-tune any timm model or a CLIP image tower with fastai on the split (a Run)",
    make_run=_make_run,
    add_arguments=_add_arguments,
    inputs="images",
    kernel=KernelRecipe(
        title="cornkit fine-tune",
        explanation=(
            "A backbone fine-tuned on the training rows with the recipe Kaggle competitors use: the head alone first, "
            "then every layer with discriminative learning rates, label smoothing, optionally mixup/cutmix, an EMA of the "
            "weights and layer-wise lr decay; a CLIP image tower starts from its zero-shot head and can be interpolated "
            "back towards it (WiSE-FT). Predictions with test-time augmentation."
        ),
        model=DEFAULT_BACKBONE,
        pretrained=TIMM_HUB,
        model_flag="--backbone",
    ),
    demo_args=(
        "--backbone",
        "clip:cornkit-tiny-clip",
        "--pretrained",
        "none",
        "--epochs",
        "1",
        "--lp-epochs",
        "1",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--mixup",
        "0.2",
        "--ema",
        "0.99",
        "--wise",
        "auto",
    ),
    rank=55,
    describe=_describe,
)

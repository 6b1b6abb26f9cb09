"""``cornkit convnext``: the fine-tune with a ConvNeXt from timm and the plain fastai recipe it always had.

A thin layer over :func:`~cornkit.train.finetune.train_finetune`: ``arch`` is the timm
backbone, ``freeze_epochs`` the head-only epochs. Random weights (``pretrained="none"``) have
nothing worth keeping frozen or protecting with a lower body learning rate, so then every
layer trains at the full rate from the start, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from fastai.callback.core import Callback

from ..data.dataset import Dataset
from ..data.split import Split
from ..defaults import CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from ..runs.run import Run
from .finetune import train_finetune
from .settings import FinetuneSettings

APPROACH = "convnext"


def convnext_settings(
    *,
    arch: str = CONVNEXT_ARCH,
    pretrained: str | Path = TIMM_HUB,
    epochs: int = 5,
    freeze_epochs: int = 1,
    size: int = 224,
    batch_size: int = 32,
    lr: float | None = None,
    balance: str = "none",
    tta: bool = True,
    seed: int = 42,
    fold: int | None = None,
    patience: int | None = None,
    monitor_frac: float = 0.1,
    max_lighting: float = 0.1,
    max_warp: float = 0.1,
    image_store: str = "auto",
) -> FinetuneSettings:
    """The fine-tune settings of the ``convnext`` command: fastai's head, no mixup, EMA or layer decay; a body at 1/10 of the head's rate."""
    random = str(pretrained).lower() == RANDOM_WEIGHTS
    return FinetuneSettings(
        backbone=f"timm:{arch}",
        pretrained=str(pretrained),
        head="fastai",
        epochs=epochs,
        lp_epochs=0 if random else freeze_epochs,
        size=size,
        batch_size=batch_size,
        lr=lr,
        body_lr_mult=1.0 if random else 0.1,
        label_smoothing=0.0,
        balance=balance,
        tta=tta,
        seed=seed,
        fold=fold,
        patience=patience,
        monitor_frac=monitor_frac,
        max_lighting=max_lighting,
        max_warp=max_warp,
        image_store=image_store,
    )


def train_convnext(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    *,
    device: str | torch.device | None = None,
    cbs: Sequence[Callback] = (),
    **options: object,
) -> Run:
    """Fine-tune a timm ``arch`` (ConvNeXt by default) with the ``convnext`` recipe; see :func:`convnext_settings` for the options."""
    settings = convnext_settings(**options)  # type: ignore[arg-type]
    return train_finetune(dataset, split, work, settings, approach=APPROACH, device=device, cbs=cbs)

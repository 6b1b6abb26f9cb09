"""The fastai Learner on a timm backbone, its training with the best epoch kept, and its predictions (with TTA)."""



from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastai.callback.channelslast
import fastai.callback.data
import fastai.callback.fp16
import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle, fine_tune, lr_find)
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
from fastai.data.core import DataLoaders
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.vision.learner import Learner, vision_learner

from ..errors import CornkitError
from ..hub import offline_error, require_hub
from .data import class_weights
from .settings import ConvNextSettings


def weights_hint(settings: ConvNextSettings) -> str:
    return (
        f"Pass a local timm checkpoint instead: --pretrained /path/to/model.safetensors (from the hub repo timm/{settings.arch}; "
        "on Kaggle attach it as a dataset or model and point at the file under /kaggle/input), or --pretrained none for random weights."
    )


def make_learner(dls: DataLoaders, settings: ConvNextSettings, train_labels: Sequence[str], classes: Sequence[str], path: Path) -> Learner:
    """``vision_learner`` on the timm backbone, weights from the hub, a checkpoint file or nowhere."""
    model_args: dict[str, Any] = {}
    if not settings.is_random and not settings.is_hub:
        model_args["pretrained_cfg_overlay"] = {"file": str(Path(settings.pretrained).resolve())}
    loss = None
    if settings.balance == "weighted":
        weight = torch.tensor(class_weights(train_labels, classes), dtype=torch.float32, device=dls.device)
        loss = CrossEntropyLossFlat(weight=weight)
    try:
        return vision_learner(
            dls, settings.arch, pretrained=not settings.is_random, loss_func=loss, metrics=accuracy, path=path, **model_args
        )
    except (OSError, RuntimeError, ValueError) as error:
        if not settings.is_random and not settings.is_hub:
            raise CornkitError(f"--pretrained {settings.pretrained}: not a timm checkpoint for {settings.arch} ({error}).") from error
        if settings.is_hub:
            raise offline_error(f"timm weights of {settings.arch}", weights_hint(settings), error) from error
        raise


def announce_weights(settings: ConvNextSettings) -> None:
    """Flag random weights loudly; fail fast when hub weights cannot be fetched."""
    if settings.is_random:
        print(
            f"WARNING: {settings.arch} has RANDOM weights (--pretrained none): fine for tests and the demo, "
            "far below a pretrained backbone for a submission.",
            file=sys.stderr,
        )
    elif settings.is_hub:
        require_hub(f"timm weights of {settings.arch}", weights_hint(settings))


class SkipValidation(Callback):
    """Without monitor rows there is nothing to validate on: skip fastai's (empty) validation pass."""

    def before_fit(self) -> None:
        self.learn.recorder.valid_metrics = False  # no empty validation columns in the progress table

    def before_validate(self) -> None:
        raise CancelValidException()


def fit_learner(learn: Learner, settings: ConvNextSettings, extra_cbs: Sequence[Callback]) -> tuple[float, float | None]:
    """Find (or take) the learning rate and train; with monitor rows, keep the epoch that did best on them.

    Returns the learning rate and the monitor accuracy of the kept epoch (None without monitor rows).
    """
    lr = settings.lr if settings.lr is not None else float(learn.lr_find(show_plot=False).valley)
    cbs: list[Callback] = list(extra_cbs)
    tracker = None
    if settings.monitor_frac == 0:
        cbs.append(SkipValidation())
    else:
        tracker = SaveModelCallback(monitor="accuracy", fname="best", reset_on_fit=False)
        cbs.insert(0, tracker)
        if settings.patience is not None:
            cbs.append(EarlyStoppingCallback(monitor="accuracy", patience=settings.patience, reset_on_fit=False))
    if settings.is_random:
        # Random weights have nothing worth keeping frozen: train everything from the start.
        learn.fit_one_cycle(settings.epochs, lr, cbs=cbs)
    else:
        learn.fine_tune(settings.epochs, base_lr=lr, freeze_epochs=settings.freeze_epochs, cbs=cbs)
    return lr, None if tracker is None else float(tracker.best)


def predict_probs(learn: Learner, frame: pd.DataFrame, use_tta: bool) -> np.ndarray:
    """Probabilities of the rows of ``frame`` (unseen in training), averaged over augmented copies when ``use_tta``."""
    dl = learn.dls.test_dl(frame)
    probs, _ = learn.tta(dl=dl) if use_tta else learn.get_preds(dl=dl)
    return probs.float().numpy()



"""The fastai Learner on a backbone, its two-phase training with the best epoch kept, and its predictions (with TTA)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import fastai.callback.channelslast
import fastai.callback.data
import fastai.callback.fp16
import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle, lr_find)
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback, TrackerCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.metrics import AccumMetric, accuracy

from .. import distributed
from ..metric_names import DEFAULT_METRIC
from ..runs.competition_metric import get_metric
from .backbone import Backbone, ParamGroups
from .data import class_weights
from .ddp import data_parallel, fastai_alone
from .progress import epoch_lines, plain_progress
from .recipe import ExponentialMovingAverage, RecipeLoss, fit_phase, recipe_callbacks
from .settings import FinetuneSettings

log = logging.getLogger(__name__)


class KeepBestEpoch(SaveModelCallback):
    """fastai's ``SaveModelCallback`` (save each better epoch, load the best at the end) that logs instead of printing.

    fastai prints "Better model found ..." to standard output, which holds only results (the
    run id last); the epoch lines already show the monitor score, so this says it at debug level.
    """

    def after_epoch(self) -> None:
        TrackerCallback.after_epoch(self)
        if self.new_best:
            log.debug("epoch %d is the best so far: monitor %s %s", self.epoch + 1, self.monitor, self.best)
            self._save(self.fname)


class CompetitionScore:
    """The competition's metric of a batch of logits against class indices: what a fastai ``AccumMetric`` calls (picklable)."""

    def __init__(self, metric: str, classes: Sequence[str]):
        self.metric, self.classes = metric, [str(c) for c in classes]
        self.__name__ = metric  # fastai's AccumMetric reads the function's name even when given one

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return get_metric(self.metric).score(np.asarray(self.classes)[targets.cpu().numpy()], probs, self.classes)


def monitor_metrics(metric: str, classes: Sequence[str]) -> list[AccumMetric]:
    """The monitor rows' accuracy, and the competition's metric beside it when it is another one.

    Accumulated over the whole monitor set, so that under DDP they are gathered from every rank
    (exact, padding dropped), and a metric that is not a mean over rows (log loss, AUC) is
    computed once on all of them.
    """
    scores = [AccumMetric(accuracy, flatten=False)]
    if metric != DEFAULT_METRIC:
        scores.append(AccumMetric(CompetitionScore(metric, classes), flatten=False, name=metric))
    return scores


def make_learner(
    dls: DataLoaders,
    backbone: Backbone,
    settings: FinetuneSettings,
    train_labels: Sequence[str],
    classes: Sequence[str],
    path: Path,
    metric: str = DEFAULT_METRIC,
) -> Learner:
    """A plain fastai ``Learner`` on the backbone, its parameter groups as the splitter, the recipe's loss, the split's ``metric`` monitored."""
    weight = None
    if settings.balance == "weighted":
        weight = torch.tensor(class_weights(train_labels, classes), dtype=torch.float32)
    loss = RecipeLoss(weight=weight, label_smoothing=settings.label_smoothing)
    # A CLIP tower's head-only phase is linear probing: its LayerNorms stay frozen too (fastai would train every norm layer).
    splitter = ParamGroups(backbone.group_names)
    return Learner(dls, backbone.model, loss_func=loss, metrics=monitor_metrics(metric, classes), splitter=splitter, path=path, train_bn=not settings.is_clip)


def find_lr(learn: Learner) -> float:
    """fastai's ``lr_find`` suggestion ("valley"), the weights left as they were.

    Under a launch rank 0 runs it alone, as a single process would, and every rank takes its
    suggestion. (fastai's distributed lr_find checkpoints and restores the weights on rank 0
    only and then waits for the others at a barrier they never reach.)
    """

    def valley() -> float:
        with fastai_alone(), learn.no_logging():
            return float(learn.lr_find(show_plot=False).valley)

    return float(distributed.leader_value(valley)) if distributed.launched() else valley()


class SkipValidation(Callback):
    """Without monitor rows there is nothing to validate on: skip fastai's (empty) validation pass."""

    def before_fit(self) -> None:
        self.learn.recorder.valid_metrics = False  # no empty validation columns in the progress table

    def before_validate(self) -> None:
        raise CancelValidException()


def fit_learner(
    learn: Learner, backbone: Backbone, settings: FinetuneSettings, n_classes: int, extra_cbs: Sequence[Callback], metric: str = DEFAULT_METRIC
) -> tuple[float, float | None]:
    """Find (or take) the learning rate and train: ``lp_epochs`` of the head alone, then ``epochs`` of everything.

    With monitor rows the epoch that did best on them by the competition's ``metric``, in its
    direction, is kept (over both phases), and early stopping watches the same number. Returns the
    head's learning rate and the monitor score of the kept epoch (None without monitor rows).
    Under a launch every rank trains its share of each batch (:mod:`.ddp`).
    """
    better = np.greater if get_metric(metric).greater_is_better else np.less
    with plain_progress(learn):
        lr = settings.lr if settings.lr is not None else find_lr(learn)
        cbs: list[Callback] = [*recipe_callbacks(settings, n_classes), *extra_cbs]
        if settings.ema is not None:
            cbs.append(ExponentialMovingAverage(settings.ema))
        tracker = None
        if settings.monitor_frac == 0:
            cbs.append(SkipValidation())
        else:
            tracker = KeepBestEpoch(monitor=metric, comp=better, fname="best", reset_on_fit=False)
            cbs.append(tracker)
            if settings.patience is not None:
                cbs.append(EarlyStoppingCallback(monitor=metric, comp=better, patience=settings.patience, reset_on_fit=False))
        with data_parallel(learn):
            if settings.lp_epochs > 0:
                learn.freeze()
                fit_phase(learn, settings, settings.lp_epochs, lr * backbone.lr_scales, [*cbs, *epoch_lines("head only")])
                learn.unfreeze()
            fit_phase(learn, settings, settings.epochs, lr * backbone.lr_scales, [*cbs, *epoch_lines("all layers")])
    return lr, None if tracker is None else float(tracker.best)


def predict_probs(learn: Learner, frame: pd.DataFrame, use_tta: bool) -> np.ndarray:
    """Probabilities of the rows of ``frame`` (unseen in training), averaged over augmented copies when ``use_tta``."""
    dl = learn.dls.test_dl(frame)
    with plain_progress(learn):
        probs, _ = learn.tta(dl=dl) if use_tta else learn.get_preds(dl=dl)
    return probs.float().numpy()

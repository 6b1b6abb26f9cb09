"""One model per fold: train a fold and predict its validation rows and the test set; check the images read late.

The folds are assembled into one Run by the one fold runner, :mod:`cornkit.runs.folds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.torch_core import set_seed

from .. import distributed
from ..clip.stored import clip_store
from ..data.dataset import Dataset
from ..data.images import read_image
from ..data.split import Split
from ..errors import CornkitError
from ..progress import progress
from ..runs.competition_metric import get_metric
from .backbone import Backbone, make_backbone
from .data import fold_frame, make_dataloaders, mark_monitor_rows
from .ddp import fastai_alone
from .learner import fit_learner, make_learner, predict_probs
from .saved_network import config_name, network_config, save_network, weights_name
from .settings import WISE_ALPHAS, FinetuneSettings, wise_alpha
from .store_data import training_store
from .wise import apply_wise, snapshot, sweep_alpha

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    """One trained fold: its validation rows and probabilities, its test probabilities, its saved network (and learner file)."""

    val_ids: np.ndarray
    val_labels: np.ndarray
    val_probs: np.ndarray
    test_probs: np.ndarray
    network_files: tuple[Path, Path]
    """The fold's weights (safetensors) and network config (JSON): :mod:`.saved_network`."""
    lr: float
    monitor_score: float | None
    """The competition's metric on the monitor rows at the kept epoch (None without monitor rows)."""
    wise: dict[str, Any] | None = field(default=None)
    clip_preprocess: dict[str, Any] | None = field(default=None)
    """A CLIP tower's open_clip preprocessing config (``cornkit predict`` rebuilds its eval transform from it)."""
    image_store: dict[str, Any] | None = field(default=None)
    learner_file: Path | None = field(default=None)
    """fastai's exported learner (a pickle), written only with ``export_learner``."""

    @property
    def model_files(self) -> list[Path]:
        """The files the Run keeps of this fold: its weights and network config, and its exported learner when there is one."""
        return [*self.network_files, *([self.learner_file] if self.learner_file is not None else [])]


def oom_error(settings: FinetuneSettings, error: BaseException) -> CornkitError:
    smaller = max(1, settings.batch_size // 2)
    return CornkitError(
        f"the GPU ran out of memory training {settings.arch} at --batch-size {settings.batch_size} --size {settings.size} "
        f"({str(error).splitlines()[0]}). Try --batch-size {smaller} (or a smaller --size or backbone)."
    )


def _predict(learn: Learner, backbone: Backbone, frame: pd.DataFrame, settings: FinetuneSettings, device: torch.device, tta: bool) -> np.ndarray:
    """Probabilities of ``frame``'s images in its row order: open_clip's own transform for a CLIP tower, fastai's test pipeline otherwise.

    Under a launch each rank predicts its contiguous share of the rows and every rank gets them
    all, in order. (fastai's own distributed prediction interleaves the ranks' rows batch by
    batch, so fastai predicts each share as a single process would: :func:`.ddp.fastai_alone`.)
    """

    def predict(rows: pd.DataFrame) -> np.ndarray:
        if backbone.preprocess is None:
            return predict_probs(learn, rows, tta)
        from .clip_tower import predict_clip

        paths = [Path(p) for p in rows["path"]]
        return predict_clip(learn.model, paths, backbone.preprocess, tta=tta, device=device, batch_size=settings.batch_size, store=backbone.preprocessed)

    if not distributed.launched():
        return predict(frame)
    mine = frame.iloc[list(distributed.shard(len(frame), distributed.rank(), distributed.world_size()))]
    with fastai_alone():
        local = predict(mine) if len(mine) else np.empty((0, len(learn.dls.vocab)), dtype=np.float32)
    return distributed.gather_everywhere(local)


def _wise(
    learn: Learner,
    backbone: Backbone,
    zeroshot: dict[str, torch.Tensor],
    monitor: pd.DataFrame,
    classes: Sequence[str],
    settings: FinetuneSettings,
    device: torch.device,
    metric: str,
) -> dict[str, Any]:
    """Interpolate with the zero-shot weights at the fixed α, or at the α that scores best on the monitor rows by ``metric``."""
    alpha = wise_alpha(settings.wise)
    if alpha is not None:
        apply_wise(learn.model, zeroshot, alpha)
        return {"alpha": alpha}
    scorer = get_metric(metric)

    def monitor_score(model: torch.nn.Module) -> float:
        return scorer.score(monitor["label"].to_numpy(), _predict(learn, backbone, monitor, settings, device, tta=False), classes)

    best, scores = sweep_alpha(learn.model, zeroshot, monitor_score, greater_is_better=scorer.greater_is_better)
    log.info("WiSE-FT: α = %s (monitor %s %.4f; α = 0: %.4f, α = 1: %.4f)", best, metric, scores[WISE_ALPHAS.index(best)], scores[0], scores[-1])
    return {"alpha": best, "alphas": list(WISE_ALPHAS), "metric": metric, f"monitor_{metric}": scores}


def check_batch_fits(settings: FinetuneSettings, n_train: int, fold: int) -> None:
    """Refuse a batch that the fold's training rows cannot fill: fastai drops the last partial batch, so nothing would train."""
    per_process = n_train // distributed.world_size()
    if settings.batch_size * settings.accum > per_process:
        raise CornkitError(
            f"--batch-size {settings.batch_size} (batch_size) x --accum {settings.accum}: fold {fold} has {per_process} training rows per process "
            f"after the monitor rows, so not one optimizer step would be taken (fastai drops a last partial batch). Give --batch-size "
            f"{max(1, per_process // settings.accum)} or less."
        )


def train_fold(
    dataset: Dataset,
    split: Split,
    fold: int,
    settings: FinetuneSettings,
    scratch: Path,
    device: torch.device,
    extra_cbs: Sequence[Callback] = (),
    store_root: Path | None = None,
) -> FoldResult:
    """Train one model on the training rows of ``fold`` and predict its validation rows and the test set.

    With ``store_root`` the images are read from the image store there (built on first use);
    when the disk cannot hold it they are read from their files, the late ones checked first.
    """
    set_seed(settings.seed, reproducible=True)
    frame = fold_frame(dataset, split, fold)
    valid = frame[frame["is_valid"]]
    fit_rows = mark_monitor_rows(frame[~frame["is_valid"]], settings.monitor_frac, settings.seed)
    test_frame = pd.DataFrame({"id": dataset.ids("test"), "path": [str(p) for p in dataset.image_paths("test")]})
    train_labels = fit_rows.loc[~fit_rows["is_valid"], "label"].tolist()
    check_batch_fits(settings, len(train_labels), fold)
    folder = scratch / f"fold{fold}"
    backbone = make_backbone(settings, dataset.classes)
    store = training_store(dataset, backbone.size, store_root)
    if backbone.preprocess is not None and store is not None:
        backbone.preprocessed = clip_store(dataset, backbone.preprocess, store_root)
    if store is None and store_root is not None:
        check_images(late_images(dataset, split), dataset.id_column, "checking validation and test images")
    zeroshot = snapshot(backbone.model) if settings.wise is not None else None
    wise = None
    try:
        dls = make_dataloaders(fit_rows, dataset.classes, settings, backbone, device, dataset.id_column, store)
        learn = make_learner(dls, backbone, settings, train_labels, dataset.classes, folder, split.metric)
        if device.type == "cuda":
            learn.to_channelslast()
        lr, monitor_score = fit_learner(learn, backbone, settings, len(dataset.classes), extra_cbs, split.metric)
        if zeroshot is not None:
            wise = _wise(learn, backbone, zeroshot, fit_rows[fit_rows["is_valid"]], dataset.classes, settings, device, split.metric)
        set_seed(settings.seed, reproducible=True)
        val_probs = _predict(learn, backbone, valid, settings, device, settings.tta)
        set_seed(settings.seed, reproducible=True)  # as `cornkit predict` seeds it: the same TTA draws on the test images
        test_probs = _predict(learn, backbone, test_frame, settings, device, settings.tta)
    except torch.cuda.OutOfMemoryError as error:
        raise oom_error(settings, error) from error
    if device.type == "cuda":
        learn.to_fp32()
    image_store = None if store is None else store.summary()
    config = network_config(settings, backbone, dataset.classes, dataset.id_column, image_store)
    network_files = (folder / weights_name(fold), folder / config_name(fold))
    if distributed.rank() == 0:  # the ranks hold the same weights; the leader writes them
        save_network(learn.model, config, folder, fold)
    learner_file = None
    if settings.export_learner:  # fastai's own pickle, for whoever wants a fastai learner; `cornkit predict` never reads it
        learner_file = folder / f"learner-fold{fold}.pkl"
        folder.mkdir(parents=True, exist_ok=True)
        learn.export(learner_file)
    return FoldResult(
        val_ids=valid["id"].to_numpy(),
        val_labels=valid["label"].to_numpy(),
        val_probs=val_probs,
        test_probs=test_probs,
        network_files=network_files,
        lr=lr,
        monitor_score=monitor_score,
        wise=wise,
        clip_preprocess=backbone.info.get("preprocess_cfg"),
        image_store=image_store,
        learner_file=learner_file,
    )


def late_images(dataset: Dataset, split: Split) -> list[tuple[str, Path]]:
    """(id, path) of every image training reads only at its end: the split's validation rows and the test images.

    Training rows are read in the first epoch anyway; these are first opened when the trained
    model predicts them, so a broken one is better found before hours of training.
    """
    train_paths = dict(zip(dataset.ids("train"), dataset.image_paths("train"), strict=False))
    return [(str(i), train_paths[str(i)]) for i in split.evaluation_ids()] + list(zip(dataset.ids("test"), dataset.image_paths("test"), strict=False))


def check_images(images: Sequence[tuple[str, Path]], id_column: str, desc: str) -> None:
    """Decode every (id, path) image; the first broken one raises a CornkitError naming its file and id."""
    with progress(desc, len(images), "img") as advance:
        for row_id, path in images:
            read_image(path, f"image of {id_column} {row_id}")
            advance(1)


def folds_to_train(split: Split, fold: int | None) -> list[int]:
    """Every fold of the split, or the one asked for (refused if the split has no such fold)."""
    if fold is None:
        return list(range(split.n_folds))
    if not 0 <= fold < split.n_folds:
        raise CornkitError(f"--fold {fold}: this split has folds 0..{split.n_folds - 1}; leave --fold out to train them all.")
    return [fold]

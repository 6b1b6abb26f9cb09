"""A fine-tune under a launch (``--gpus``, ``--processes`` or torchrun): every rank checks its share of the images, then the ranks train each fold together.

Rank 0 runs :func:`~cornkit.train.finetune.train_finetune` as a single process would and
hands these jobs to every rank (:func:`cornkit.distributed.run_everywhere`). The image check
agrees on failure like feature extraction does, so a broken image in any rank's share ends
every rank with one line before training starts. Training a fold is data-parallel
(:mod:`.ddp`); a rank that fails inside it ends the launch (:func:`~cornkit.distributed.abandon_on_failure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from fastai.callback.core import Callback

from .. import distributed
from ..data.dataset import Dataset
from ..data.split import Split
from .folds import FoldResult, check_images, train_fold
from .settings import FinetuneSettings


def rank_device(device_type: str) -> torch.device:
    """This rank's device: its own GPU (``LOCAL_RANK``, set by the process group) or the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if device_type == "cuda" else torch.device("cpu")


@dataclass(frozen=True)
class CheckImagesJob:
    """Decode every image (training, validation and test) once, each rank its contiguous share."""

    images: tuple[tuple[str, str], ...]
    id_column: str

    def run(self) -> None:
        rank, world = distributed.rank(), distributed.world_size()
        mine = [(row_id, Path(path)) for row_id, path in (self.images[i] for i in distributed.shard(len(self.images), rank, world))]
        _, failure = distributed.failure_of(lambda: check_images(mine, self.id_column, f"checking images, rank {rank} of {world}"))
        distributed.agree_on_failure(failure)


def check_images_on_every_rank(dataset: Dataset) -> None:
    """Every training and test image decoded before training, the work shared by the ranks.

    In a single process only the late images are checked (training reads the others in its
    first epoch); under DDP a broken training image would stop one rank inside a gradient
    all-reduce, so every image is checked while the ranks can still agree.
    """
    images = [(str(i), str(p)) for part in ("train", "test") for i, p in zip(dataset.ids(part), dataset.image_paths(part), strict=True)]
    distributed.run_everywhere(CheckImagesJob(tuple(images), dataset.id_column))


@dataclass(frozen=True)
class FoldJob:
    """Train fold ``fold`` on every rank (each on its share of every batch); the leader's call returns the FoldResult."""

    dataset: Dataset
    split: Split
    fold: int
    settings: FinetuneSettings
    scratch: Path
    device_type: str
    store_root: Path | None = None

    def run(self, cbs: Sequence[Callback] = ()) -> FoldResult:
        device = rank_device(self.device_type)
        return distributed.abandon_on_failure(
            lambda: train_fold(self.dataset, self.split, self.fold, self.settings, self.scratch, device, cbs, self.store_root)
        )

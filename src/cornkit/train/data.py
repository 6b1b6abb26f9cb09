"""fastai data for a fine-tune: the rows of a fold, the monitor rows, class weights, the image reader and the DataLoaders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastai.callback.data  # noqa: F401  (adds DataBlock.weighted_dataloaders)
import numpy as np
import pandas as pd
import torch
from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.core import DataLoaders
from fastai.data.transforms import ColReader, ColSplitter, Normalize
from fastai.vision.augment import PadMode, Resize, ResizeMethod, aug_transforms
from fastai.vision.data import ImageBlock
from PIL import Image
from sklearn.model_selection import train_test_split

from .. import distributed
from ..data.dataset import Dataset
from ..data.ids import id_array
from ..data.image_store import ImageStore
from ..data.images import read_image
from ..data.split import Split
from ..errors import CornkitError
from .backbone import Backbone
from .settings import FinetuneSettings
from .store_data import StoredImage, StoreRows, store_dataloaders, stored_size


def fold_frame(dataset: Dataset, split: Split, fold: int) -> pd.DataFrame:
    """Image path, label, id and ``is_valid`` of every row a model for ``fold`` is trained or scored on, training rows first."""
    train = dataset.train.set_index(dataset.id_column)
    parts = []
    for ids, is_valid in ((split.train_ids(fold), False), (split.valid_ids(fold), True)):
        missing = sorted(set(ids) - set(train.index))
        if missing:
            raise CornkitError(f"the split lists id {missing[0]!r}, which is not in {dataset.root / 'train.csv'}; re-run `cornkit split --force`.")
        rows = train.loc[ids]
        parts.append(
            pd.DataFrame(
                {
                    "id": id_array(ids),
                    "path": [str(dataset.root / p) for p in rows[dataset.image_column]],
                    "label": rows[dataset.label_column].astype(str).to_numpy(),
                    "is_valid": is_valid,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def mark_monitor_rows(train: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """The training rows with ``is_valid`` set on a stratified ``fraction`` of them: fastai's validation set.

    fastai picks the best epoch and stops early on its validation set, so that set is carved
    from the training rows; the split's validation rows stay unseen until the final prediction.
    """
    train = train.assign(is_valid=False).reset_index(drop=True)
    if fraction == 0:
        return train
    labels = train["label"]
    counts = labels.value_counts()
    n_monitor = max(len(counts), round(fraction * len(train)))
    if counts.min() < 2 or len(train) - n_monitor < len(counts):
        raise CornkitError(
            f"--monitor-frac {fraction}: {len(train)} training rows (class {counts.idxmin()!r}: {counts.min()}) are too few to hold "
            f"{n_monitor} of them out for choosing the epoch and still train on every class. Give --monitor-frac 0."
        )
    _, monitor = train_test_split(np.arange(len(train)), test_size=n_monitor, stratify=labels, random_state=seed)
    train.loc[monitor, "is_valid"] = True
    return train


def class_weights(labels: Sequence[str] | pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Inverse class frequency, normalised so a balanced set gets weight 1 per class."""
    counts = pd.Series(list(labels)).value_counts().reindex(list(classes), fill_value=0).to_numpy(dtype=np.float64)
    return len(labels) / (len(classes) * np.maximum(counts, 1))


class ReadImage:
    """fastai's ``get_x``: a row's decoded image, or a CornkitError naming the broken file and its id."""

    def __init__(self, id_column: str):
        self.id_column = id_column

    def __call__(self, row: pd.Series) -> Image.Image:
        return read_image(Path(row["path"]), f"image of {self.id_column} {row.get('id', '?')}")


def image_block(
    classes: Sequence[str],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    augment: dict[str, float],
    id_column: str,
    rows: StoreRows | None,
) -> DataBlock:
    """The fastai DataBlock of a fine-tune at ``size`` px: pad-resize with the background's border, flips, free rotation,
    mild lighting/warp (``augment``: ``max_lighting``, ``max_warp``), the backbone's normalisation.

    With ``rows`` (the store behind the DataLoaders, :mod:`.store_data`) images arrive pad-resized
    to the store's side, and the augmentations' resampling brings them to ``size`` on the device.
    Training and ``cornkit predict`` (which rebuilds this block from a Run's network config) both
    build it here.
    """
    item_size = size if rows is None else stored_size(size)
    return DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=list(classes))),
        get_x=ReadImage(id_column) if rows is None else StoredImage(id_column, rows),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
        # With a store, a file (a new image at prediction) is padded to the store's side like the store's rows, so it predicts the same.
        item_tfms=Resize(item_size, method=ResizeMethod.Pad, pad_mode=PadMode.Border),
        batch_tfms=[
            *aug_transforms(flip_vert=True, max_rotate=180.0, **augment, pad_mode=PadMode.Border, size=size),
            Normalize.from_stats(mean, std),
        ],
    )


def loader_workers(device: torch.device) -> int:
    """DataLoader worker processes: they only pay off feeding a GPU; in-process loading keeps CPU runs reproducible.

    The processes of a launch share the machine's cores (Kaggle's two T4s come with 4).
    """
    return 0 if device.type == "cpu" else min(8, max(1, (os.cpu_count() or 1) // distributed.local_world_size()))


def augment_settings(settings: FinetuneSettings) -> dict[str, float]:
    """The augmentation strengths a Run's network config records (the rest of the augmentation is fixed)."""
    return {"max_lighting": settings.max_lighting, "max_warp": settings.max_warp}


def make_dataloaders(
    frame: pd.DataFrame,
    classes: Sequence[str],
    settings: FinetuneSettings,
    backbone: Backbone,
    device: torch.device,
    id_column: str,
    store: ImageStore | None = None,
) -> DataLoaders:
    """fastai DataLoaders of :func:`image_block` for ``frame``, weighted for ``--balance oversample``.

    Images are normalised with the backbone's own mean and std (random weights too, which speeds training).
    With a ``store`` the images come pad-resized from it and the batch transforms do the rest on the device.
    """
    rows = None if store is None else StoreRows(store)
    block = image_block(classes, backbone.size, backbone.mean, backbone.std, augment_settings(settings), id_column, rows)
    options: dict[str, Any] = {"bs": settings.batch_size, "device": device, "num_workers": loader_workers(device)}
    weights = None
    if settings.balance == "oversample":
        train_labels = frame.loc[~frame["is_valid"], "label"]
        per_class = dict(zip(classes, class_weights(train_labels, classes), strict=False))
        weights = frame["label"].map(per_class).to_numpy(dtype=np.float64)
    if rows is not None:
        return store_dataloaders(block, frame, rows, weights, **options)
    if weights is not None:
        return block.weighted_dataloaders(frame, wgts=weights, **options)
    return block.dataloaders(frame, **options)

"""A fine-tune's batches from the image store: gathered from the memory map, augmented and normalised on the device.

The store (:mod:`cornkit.data.image_store`) holds every image pad-resized once, the way the
file path's ``Resize`` pads (square, the border repeating the light background), at
:func:`stored_size`, a little above the training size so that zooms and rotations mostly
downsample. A batch is one fancy index into the array (no PIL, no per-image Python), copied to
the device (pinned and asynchronous on CUDA) as uint8, and fastai's batch transforms do the
rest there as they always did: flips, free rotation, zoom, warp and lighting, the resize to the
training size, then the backbone's normalisation. So no DataLoader worker process is needed to
keep a GPU busy, and the CPU runs the same code. One thing the file path did is not repeated:
in training, fastai's ``Resize`` put a non-square image at a random place along its padded
side; from the store it stays centred (rotation, zoom and warp still move it).

The fastai objects stay fastai's (a ``DataBlock``'s ``Datasets``, a ``TfmdDL`` subclass), so
monitor rows, ``test_dl``, TTA, weighted sampling and callbacks see what they always saw. A row
whose image is not in the store (``learn.predict`` on a new file) takes the file path, and an
exported learner pickles without the store: it reads image files wherever it is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fastai.callback.data import WeightedDL
from fastai.data.block import DataBlock
from fastai.data.core import DataLoaders, TfmdDL
from fastai.torch_core import TensorCategory, TensorImage, explode_types, to_device
from fastai.vision.augment import PadMode, Resize, ResizeMethod
from fastai.vision.core import PILImage
from PIL import Image

from ..data.dataset import Dataset
from ..data.image_store import ImageStore, StoreRecipe, open_store
from ..data.images import read_image

STORE_MARGIN = 8 / 7
"""Stored size over training size: 224 px training reads a 256 px store."""


def stored_size(size: int) -> int:
    """The store's side for a training ``size``: ``size`` × 8/7, rounded up to a multiple of 8."""
    return int(math.ceil(size * STORE_MARGIN / 8) * 8)


class PadResize:
    """fastai's ``Resize(method=pad, pad_mode=border)`` as the file path applies it to a validation image: centred, bilinear."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Image.Image) -> np.ndarray:
        resize = Resize(self.size, method=ResizeMethod.Pad, pad_mode=PadMode.Border)  # one per call: threads share nothing
        return np.asarray(resize(PILImage.create(image), split_idx=1))


def pad_recipe(size: int) -> StoreRecipe:
    """The store recipe of a fine-tune at ``size`` pixels."""
    return pad_recipe_of_side(stored_size(size))


def pad_recipe_of_side(side: int) -> StoreRecipe:
    """The pad recipe of a store ``side`` pixels square (a Run records the side of the store it read)."""
    description = {"resize": "fastai Resize", "method": "pad", "pad_mode": "border", "interpolation": "bilinear", "size": side, "reader": read_image.__module__}
    return StoreRecipe(name="pad", size=side, description=description, prepare=PadResize(side))


def training_store(dataset: Dataset, size: int, root: Path | None) -> ImageStore | None:
    """The store a fine-tune at ``size`` reads (built on first use), or None: no store asked for, or none fits on the disk."""
    return None if root is None else open_store(dataset, pad_recipe(size), root)


class StoreRows:
    """The store behind a fine-tune's DataLoaders. It pickles empty, so an exported learner reads image files."""

    def __init__(self, store: ImageStore | None):
        self.store = store

    def __getstate__(self) -> dict[str, Any]:
        return {"store": None}

    def locate(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        return None if self.store is None else self.store.locate(paths)


class StoredImage:
    """fastai's ``get_x``: a row's image from the store (pad-resized already), or decoded from its file when the store lacks it."""

    def __init__(self, id_column: str, rows: StoreRows):
        self.id_column = id_column
        self.rows = rows

    def __call__(self, row: pd.Series) -> Image.Image:
        found = self.rows.locate([row["path"]])
        if found is None:
            return read_image(Path(row["path"]), f"image of {self.id_column} {row.get('id', '?')}")
        array, index = found
        return Image.fromarray(np.array(array[index[0]]))


class StoreDL(TfmdDL):
    """A ``TfmdDL`` whose batches are gathered from the store; datasets whose rows are not all in it load item by item as usual."""

    def __init__(self, dataset: Any = None, rows: StoreRows | None = None, **kwargs: Any):
        self.rows = rows if rows is not None else StoreRows(None)
        self._source_of: tuple[Any, tuple[np.ndarray, np.ndarray, torch.Tensor | None] | None] | None = None
        super().__init__(dataset, **kwargs)

    def new(self, dataset: Any = None, cls: Any = None, **kwargs: Any) -> TfmdDL:
        kwargs.setdefault("rows", self.rows)
        return super().new(dataset, cls, **kwargs)

    def _source(self) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None] | None:
        """(store array, the store row of each item, each item's class index or None for a test set), or None outside the store."""
        if self._source_of is not None and self._source_of[0] is self.dataset:
            return self._source_of[1]
        items = getattr(self.dataset, "items", None)
        source = None
        if isinstance(items, pd.DataFrame) and "path" in items and (found := self.rows.locate(list(items["path"]))) is not None:
            tls = self.dataset.tls
            labels = torch.stack([tls[-1][i] for i in range(len(items))]) if len(tls) > self.dataset.n_inp and len(items) else None
            source = (found[0], found[1], labels)
        self._source_of = (self.dataset, source)
        return source

    def _store_batch(self, array: np.ndarray, rows: np.ndarray, labels: torch.Tensor | None, index: np.ndarray) -> tuple[torch.Tensor, ...]:
        x = torch.from_numpy(array[rows[index]]).permute(0, 3, 1, 2)  # NCHW view of NHWC rows: channels_last, as CUDA trains
        if self.device is not None and self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        image = TensorImage(x)
        return (image,) if labels is None else (image, TensorCategory(labels[index].to(x.device)))

    def create_batches(self, samps: Any) -> Iterator[Any]:
        source = self._source()
        if source is None:
            yield from super().create_batches(samps)
            return
        for chunk in self.chunkify(samps):
            yield self._store_batch(*source, np.fromiter(chunk, dtype=np.int64))

    def _one_pass(self) -> None:
        """fastai's type probe on one batch, from the store (the file path would decode an image just for it)."""
        source = self._source()
        if source is None or len(source[1]) == 0:
            super()._one_pass()
            return
        its = self.after_batch(to_device(self._store_batch(*source, np.zeros(1, dtype=np.int64)), self.device))
        self._n_inp = 1 if not isinstance(its, (list, tuple)) or len(its) == 1 else len(its) - 1
        self._types = explode_types(its)


class WeightedStoreDL(StoreDL, WeightedDL):
    """``--balance oversample`` from the store: fastai's weighted sampling, the store's batches."""


def store_dataloaders(block: DataBlock, frame: pd.DataFrame, rows: StoreRows, weights: np.ndarray | None, **options: Any) -> DataLoaders:
    """``block.dataloaders(frame)`` (or its weighted form) with batches from the store, in this process (no worker processes)."""
    datasets = block.datasets(frame)
    kwargs = {"after_item": block.item_tfms, "after_batch": block.batch_tfms, "rows": rows, **options, "num_workers": 0}
    if weights is None:
        return datasets.dataloaders(dl_type=StoreDL, **kwargs)
    return datasets.dataloaders(dl_type=WeightedStoreDL, dl_kwargs=[{"wgts": weights[datasets.splits[0]]}, {}], **kwargs)

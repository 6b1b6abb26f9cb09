"""CLIP inputs from the image store: open_clip's own resize and crop done once, ``ToTensor`` and ``Normalize`` on the device.

An open_clip evaluation transform is PIL steps (resize, centre crop, mode conversion), then
``ToTensor`` (uint8 to float, divided by 255) and ``Normalize``. The PIL steps make the store's
rows (:func:`clip_recipe`, keyed by their description); the two tensor steps run on each batch
on the device, computing exactly what they compute per image, so features from the store equal
features from the files (the tests check 1e-5 on the CPU) while a GPU waits on the model, not
on PNG decoding. Flipped TTA views are flips of the same batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import Compose, Normalize

from ..data.dataset import Dataset
from ..data.image_store import ImageStore, StoreRecipe, open_store
from ..data.images import read_image


def _split(preprocess: Any) -> tuple[list[Any], Normalize] | None:
    """open_clip's transform as (PIL steps, the final Normalize), or None when it is not PIL steps, ToTensor, Normalize."""
    steps = list(getattr(preprocess, "transforms", []))
    names = [type(step).__name__ for step in steps]
    if len(steps) < 2 or not names[-2].endswith("ToTensor") or not isinstance(steps[-1], Normalize):
        return None
    return steps[:-2], steps[-1]


def _describe(step: Any) -> str:
    """A step's repr without memory addresses (a plain function shows its name)."""
    return f"{step.__module__}.{step.__qualname__}" if callable(step) and hasattr(step, "__qualname__") else repr(step)


class PilSteps:
    """The PIL part of open_clip's transform, to a uint8 H×W×3 array."""

    def __init__(self, steps: list[Any]):
        self.compose = Compose(steps)

    def __call__(self, image: Image.Image) -> np.ndarray:
        return np.asarray(self.compose(image).convert("RGB"))


def clip_recipe(preprocess: Any) -> StoreRecipe | None:
    """The store recipe of an open_clip model's evaluation transform, or None for a transform of another shape (then files are read)."""
    split = _split(preprocess)
    if split is None:
        return None
    steps, _ = split
    prepare = PilSteps(steps)
    size = prepare(Image.new("RGB", (97, 61), (255, 255, 255))).shape
    if size[0] != size[1]:
        return None
    description = {"open_clip": [_describe(step) for step in steps], "size": size[0], "reader": read_image.__module__}
    return StoreRecipe(name="clip", size=size[0], description=description, prepare=prepare)


def clip_store(dataset: Dataset, preprocess: Any, root: Path | None) -> ImageStore | None:
    """The store of ``preprocess``'s PIL steps for ``dataset`` under ``root`` (built on first use), or None: no root, another transform, or no room."""
    recipe = None if root is None else clip_recipe(preprocess)
    return None if root is None or recipe is None else open_store(dataset, recipe, root)


def _stored_batches(array: np.ndarray, rows: np.ndarray, normalize: Normalize, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    on_cuda = device.type == "cuda"
    for start in range(0, len(rows), batch_size):
        x = torch.from_numpy(array[rows[start : start + batch_size]])
        x = x.pin_memory().to(device, non_blocking=True) if on_cuda else x
        yield normalize(x.permute(0, 3, 1, 2).float().div(255))  # ToTensor, then Normalize, as per image


def image_batches(
    paths: Sequence[Path], preprocess: Any, *, batch_size: int, device: torch.device, store: ImageStore | None = None, num_workers: int = 0
) -> Iterator[torch.Tensor]:
    """Preprocessed batches of ``paths`` on ``device``: gathered from ``store`` when it holds them all, else decoded by a DataLoader."""
    found = None if store is None else store.locate(paths)
    split = _split(preprocess)
    if found is not None and split is not None:
        yield from _stored_batches(*found, split[1], batch_size, device)
        return
    from .features import ImageFiles

    on_cuda = device.type == "cuda"
    loader = DataLoader(ImageFiles(paths, preprocess), batch_size=batch_size, num_workers=num_workers, pin_memory=on_cuda, persistent_workers=False)
    for batch in loader:
        yield batch.to(device, non_blocking=True)

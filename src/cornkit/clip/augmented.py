"""Augmented views of the training images, embedded once and cached next to the plain features.

Tip-Adapter builds its cache from several augmented views of each training image (the paper
uses 10 epochs of random resized crops, scale 0.5 to 1, and horizontal flips) and fine-tunes on
them. Embedding them costs K feature passes, so they are cached like the plain features, in
``WORK/features/augmented/<key>/`` (``train.npy`` of shape ``(K, n_train, dim)``,
``train_ids.npy``, ``meta.json``); the key hashes the plain features' key, K, the seed and the
recipe, so a second run with the same flags loads them without loading any model.

The views go through :func:`cornkit.clip.features.encode_images` with the model's own
preprocessing, its resize and centre crop replaced by the random crop and flip. View ``v`` is
drawn with torch seeded ``seed + v``, so the views are the same on every machine and run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_dir, write_json
from ..data.dataset import Dataset
from ..data.ids import id_array
from ..errors import CornkitError
from ..hashing import config_hash
from .features import FEATURES_DIR, encode_images, feature_key
from .model import ClipSpec, LoadedClip, check_spec, load_clip

AUGMENTED_DIR = "augmented"
CROP_SCALE = (0.5, 1.0)
RECIPE = f"RandomResizedCrop(scale={CROP_SCALE}, bicubic) + RandomHorizontalFlip(0.5), then the model's own tensor and normalisation steps"


@dataclass(frozen=True)
class AugmentedViews:
    """``views[v, i]`` is the embedding of view ``v`` of training image ``train_ids[i]``."""

    path: Path
    key: str
    views: np.ndarray
    train_ids: np.ndarray

    def rows(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """The views of training rows ``ids`` (in that order), shape ``(K, len(ids), dim)``."""
        position = {str(i): k for k, i in enumerate(self.train_ids)}
        try:
            return self.views[:, [position[str(i)] for i in ids]]
        except KeyError as error:
            raise CornkitError(f"id {error.args[0]!r} has no augmented view in {self.path}; the split and data disagree.") from error


def augmenting_transform(clip: LoadedClip) -> Any:
    """The model's preprocessing with its resize and centre crop replaced by a random resized crop and a flip."""
    from torchvision import transforms

    visual: Any = clip.model.visual  # every open_clip vision tower records its input size
    size = visual.image_size
    steps = [step for step in clip.preprocess.transforms if not isinstance(step, (transforms.Resize, transforms.CenterCrop))]
    crop = transforms.RandomResizedCrop(size, scale=CROP_SCALE, interpolation=transforms.InterpolationMode.BICUBIC)
    return transforms.Compose([crop, transforms.RandomHorizontalFlip(p=0.5), *steps])


def augmented_key(spec: ClipSpec, dataset: Dataset, n_views: int, seed: int) -> str:
    """Hash of the plain features' key, the number of views, the seed and the augmentation recipe."""
    return config_hash({"features": feature_key(spec, dataset), "views": n_views, "seed": seed, "recipe": RECIPE})


def _load(path: Path, key: str) -> AugmentedViews:
    return AugmentedViews(path=path, key=key, views=np.load(path / "train.npy"), train_ids=id_array(np.load(path / "train_ids.npy", allow_pickle=False)))


def extract_augmented_views(
    dataset: Dataset,
    work: str | Path,
    spec: ClipSpec,
    n_views: int,
    *,
    seed: int,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    clip: LoadedClip | None = None,
) -> AugmentedViews:
    """``n_views`` augmented embeddings of every training image, from the cache when it has them."""
    check_spec(spec)
    key = augmented_key(spec, dataset, n_views, seed)
    path = Path(work) / FEATURES_DIR / AUGMENTED_DIR / key
    if (path / "meta.json").is_file():
        return _load(path, key)
    clip = clip or load_clip(spec, device)
    augmenting = dataclasses.replace(clip, preprocess=augmenting_transform(clip))
    views = []
    for view in range(n_views):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + view)
            views.append(
                encode_images(augmenting, dataset.image_paths("train"), batch_size=batch_size, num_workers=num_workers, desc=f"view {view + 1}/{n_views}")
            )
    with atomic_dir(path) as folder:
        np.save(folder / "train.npy", np.stack(views))
        np.save(folder / "train_ids.npy", id_array(dataset.ids("train")))
        write_json(folder / "meta.json", {"key": key, "clip": spec.identity(), "views": n_views, "seed": seed, "recipe": RECIPE, "n_train": len(dataset.train)})
    return _load(path, key)

"""CLIP image features for the train and test images, computed once and cached.

Features are L2-normalised image embeddings (``model.encode_image(..., normalize=True)``),
so a zero-shot head is a matrix product with the text classifier and a probe sees unit
vectors. They live in ``WORK/features/<key>/`` (``train.npy``, ``test.npy``, ``meta.json``),
where the key hashes the model identity, the weights and the image list; a second call with
the same inputs loads them without loading any model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from ..atomic import atomic_dir, write_json
from ..data.dataset import Dataset
from ..data.ids import id_array
from ..data.image_store import ImageStore, store_root
from ..data.images import read_image
from ..distributed import local_world_size, world_size
from ..errors import CornkitError
from ..hashing import config_hash
from ..locks import locked
from ..progress import progress
from .model import ClipSpec, LoadedClip, check_spec, load_clip
from .stored import clip_store, image_batches

log = logging.getLogger(__name__)

FEATURES_DIR = "features"
PARTS = ("train", "test")


@dataclass(frozen=True)
class FeatureSet:
    """Cached features of one model on one dataset: ``train``/``test`` rows follow the CSVs."""

    path: Path
    key: str
    train: np.ndarray
    test: np.ndarray
    train_ids: np.ndarray
    test_ids: np.ndarray
    meta: dict[str, Any]

    def rows(self, part: str, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """The feature rows of ``ids`` (in that order) from ``part``."""
        features, all_ids = (self.train, self.train_ids) if part == "train" else (self.test, self.test_ids)
        position = {str(i): k for k, i in enumerate(all_ids)}
        try:
            return features[[position[str(i)] for i in ids]]
        except KeyError as error:
            raise CornkitError(f"id {error.args[0]!r} has no cached {part} feature in {self.path}; the split and data disagree.") from error


class ImageFiles(TorchDataset):
    """Images by path through a transform; a broken file is named in the error."""

    def __init__(self, paths: Sequence[Path], transform: Callable[[Any], torch.Tensor]):
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(read_image(self.paths[index], "feature extraction"))


def _image_stamp(path: Path, root: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns)


def feature_key(spec: ClipSpec, dataset: Dataset) -> str:
    """Hash of the model identity and, per image of both parts, its path, size and modification time (ns).

    Size and ``mtime_ns`` rather than the bytes: one ``stat`` per image is re-checked on every
    call at no noticeable cost, while hashing every image would read the whole data set each
    time. An image edited in place (same size or not) gets a new mtime and so a new key; a copy
    that does not keep mtimes (``cp`` without ``-p``) recomputes the features once.
    """
    images = {part: [_image_stamp(p, dataset.root) for p in dataset.image_paths(part)] for part in PARTS}
    return config_hash({"clip": spec.identity(), "images": images})


def _worker_error_message(error: Exception) -> str:
    """The user's message from an error re-raised out of a DataLoader worker (its last line)."""
    text = str(error)
    marker = "CornkitError: "
    return text.rsplit(marker, 1)[-1].strip() if marker in text else text


FLIP_VIEWS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


def embed_batch(clip: LoadedClip, batch: torch.Tensor) -> torch.Tensor:
    """Unit-length embeddings of a preprocessed batch, averaged over flipped views if asked."""
    if not clip.spec.flip_tta:
        return clip.model.encode_image(batch, normalize=True).float()
    views = [clip.model.encode_image(batch.flip(dims) if dims else batch, normalize=True).float() for dims in FLIP_VIEWS]
    return torch.nn.functional.normalize(torch.stack(views).mean(dim=0), dim=-1)


def encode_images(
    clip: LoadedClip,
    paths: Sequence[Path],
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    desc: str = "images",
    store: ImageStore | None = None,
) -> np.ndarray:
    """L2-normalised image embeddings of ``paths``, in order, as float32 (read from ``store`` when it holds them).

    Under a torchrun launch (:mod:`cornkit.distributed`), called by rank 0, every process embeds
    its shard of ``paths`` on its own device (:mod:`cornkit.clip.sharded`) and rank 0 gets them
    all back in order: the same rows a single process computes (each rank reads the image files).
    """
    if world_size() > 1:
        from .sharded import encode_on_every_rank

        return encode_on_every_rank(clip, paths, batch_size=batch_size, num_workers=num_workers, desc=desc)
    return encode_here(clip, paths, batch_size=batch_size, num_workers=num_workers, desc=desc, store=store)


@torch.inference_mode()
def encode_here(
    clip: LoadedClip,
    paths: Sequence[Path],
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    desc: str = "images",
    position: int = 0,
    store: ImageStore | None = None,
) -> np.ndarray:
    """:func:`encode_images` in this process alone (one rank's shard under a launch; ``position`` places its bar).

    On CUDA the batches run under bfloat16/float16 autocast in channels_last layout, fed by up
    to 8 decoding workers (shared among the processes of a launch on this machine); on the CPU
    in float32 in the main process, because there the workers only steal cores from the model
    (benchmarks/README.md). From an image store (:mod:`.stored`) no worker is needed anywhere.
    """
    if not paths:
        return np.empty((0, 0), dtype=np.float32)
    on_cuda = clip.device.type == "cuda"
    workers = (min(8, max(1, (os.cpu_count() or 1) // local_world_size())) if on_cuda else 0) if num_workers is None else num_workers
    if on_cuda:
        clip.model.to(memory_format=torch.channels_last)
    batches = image_batches(paths, clip.preprocess, batch_size=batch_size, device=clip.device, store=store, num_workers=workers)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if on_cuda else nullcontext()
    chunks = []
    try:
        with progress(f"CLIP features ({desc})", len(paths), "img", position=position) as advance:
            for batch in batches:
                if on_cuda:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                with autocast:
                    chunks.append(embed_batch(clip, batch).cpu())
                advance(len(batch))
    except CornkitError as error:
        raise CornkitError(_worker_error_message(error)) from None
    except torch.cuda.OutOfMemoryError as error:
        raise CornkitError(f"the GPU ran out of memory at --batch-size {batch_size}; try a smaller one.") from error
    return torch.cat(chunks).numpy().astype(np.float32)


UNIT_NORM_TOLERANCE = 0.05
"""Cached rows are unit vectors (to bfloat16 precision); damaged bytes almost never are."""


def _cache_problem(meta: Any, arrays: dict[str, np.ndarray]) -> str | None:
    """Why a cache folder cannot be trusted (shapes, ids, non-unit or non-finite rows), or None."""
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), int) for k in ("n_train", "n_test", "dim")):
        return "meta.json lacks n_train, n_test or dim"
    for part in PARTS:
        features, ids, rows = arrays[part], arrays[f"{part}_ids"], meta[f"n_{part}"]
        if features.shape != (rows, meta["dim"]) or ids.shape != (rows,) or ids.dtype.kind not in "iuU":
            return f"{part}.npy or {part}_ids.npy does not match meta.json ({rows} x {meta['dim']})"
        norms = np.linalg.norm(features.astype(np.float64), axis=1) if rows else np.ones(0)
        if not np.all(np.abs(norms - 1) <= UNIT_NORM_TOLERANCE):
            return f"{part}.npy holds rows that are not unit-length features"
    return None


def _load_cached(path: Path, key: str) -> FeatureSet | None:
    """The cached features in ``path``, or None when there are none or they are damaged (then said on stderr).

    A truncated or overwritten file must not become wrong numbers: every array is loaded and
    checked against ``meta.json`` and for unit-length rows, and a damaged cache is rebuilt.
    """
    if not (path / "meta.json").is_file():
        return None
    try:
        meta = json.loads((path / "meta.json").read_text())
        arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False) for name in ("train", "test", "train_ids", "test_ids")}
        problem = _cache_problem(meta, arrays)
        arrays.update({name: id_array(arrays[name]) for name in ("train_ids", "test_ids")})  # integer ids of older caches as text
    except (OSError, ValueError, EOFError) as error:  # json.JSONDecodeError is a ValueError
        problem = f"{type(error).__name__}: {error}".splitlines()[0]
    if problem:
        log.warning("the feature cache %s is damaged (%s); computing the features again.", path, problem)
        return None
    return FeatureSet(path=path, key=key, meta=meta, **arrays)


def cached_features(dataset: Dataset, work: str | Path, spec: ClipSpec) -> FeatureSet | None:
    """The cached features of ``dataset`` under ``spec`` in ``work``, or None when the cache does not hold them (nothing is computed)."""
    key = feature_key(spec, dataset)
    path = Path(work) / FEATURES_DIR / key
    with locked(path, f"read features from {path}"):
        return _load_cached(path, key)


def extract_features(
    dataset: Dataset,
    work: str | Path,
    spec: ClipSpec,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    clip: LoadedClip | None = None,
    image_store: str = "auto",
) -> FeatureSet:
    """Features of every train and test image under ``spec``, from the cache when it has them.

    ``clip`` lets a caller that already holds the model (the zero-shot head) pass it in.
    ``image_store`` (``auto``, a folder or ``none``): where the images decoded by the model's
    own preprocessing are kept (:func:`cornkit.data.image_store.store_root`).
    """
    check_spec(spec)
    key = feature_key(spec, dataset)
    path = Path(work) / FEATURES_DIR / key
    # Under the cache's lock: a second command on the same model waits, then reads what the first wrote.
    with locked(path, f"extract features into {path}"):
        if (cached := _load_cached(path, key)) is not None:
            return cached
        clip = clip or load_clip(spec, device)
        store = clip_store(dataset, clip.preprocess, store_root(image_store, work)) if world_size() == 1 else None
        with atomic_dir(path) as folder:
            for part in PARTS:
                embeddings = encode_images(clip, dataset.image_paths(part), batch_size=batch_size, num_workers=num_workers, desc=part, store=store)
                np.save(folder / f"{part}.npy", embeddings)
                np.save(folder / f"{part}_ids.npy", id_array(dataset.ids(part)))
            write_json(
                folder / "meta.json",
                {
                    "key": key,
                    "clip": spec.identity(),
                    "label": spec.label,
                    "random_weights": spec.is_random,
                    "logit_scale": clip.logit_scale,
                    "data": str(dataset.root),
                    "n_train": len(dataset.train),
                    "n_test": len(dataset.test),
                    "dim": int(np.load(folder / "train.npy", mmap_mode="r").shape[1]),
                    "world_size": world_size(),
                },
            )
    written = _load_cached(path, key)
    if written is None:
        raise CornkitError(f"the features just written to {path} do not read back; check the disk, then run `cornkit features` again.")
    return written

"""The image store: every train and test image decoded once into a pre-sized uint8 array on disk.

Decoding a PNG and resizing it costs more CPU than a small model's step, and a GPU waits on it
every epoch (benchmarks/README.md). A store holds each image as it leaves the CPU part of a
*recipe* (pad-resized for a fine-tune, open_clip's resize and crop for CLIP features): one
``(n, S, S, 3)`` uint8 ``.npy`` per part (``train``, ``test``, rows in CSV order), read through a
memory map, and a ``meta.json``. Everything after that (augmentation, normalisation) runs on
the device, batch by batch.

A store lives in ``ROOT/<recipe>-<S>-<key>/``, where the key hashes the format version, the
recipe's description and, per image, its path, size and ``mtime_ns`` (as the feature cache
keys images): every command with the same recipe on the same files shares it, and an edited
image or another recipe makes another store. It is written into a temporary folder that is
renamed into place when complete (:func:`cornkit.atomic.atomic_dir`; a killed build leaves
only a temporary that the next write reaps), under a lock (two builders: one builds, the other
waits and reuses it), and checked on every open (meta, shapes, exact file sizes): a store that
does not match is reported in one line and rebuilt, never read. Its size is printed before it
is built; when the disk cannot hold it, the command says so and reads the image files instead.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..atomic import atomic_dir, write_json
from ..errors import CornkitError
from ..locks import locked
from ..progress import progress
from .dataset import Dataset
from .images import read_image

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STORE_DIR = "image-store"
ENV_VAR = "CORNKIT_IMAGE_STORE"
PARTS = ("train", "test")
SPARE_BYTES = 256 << 20
"""Left free beyond the store itself, so that the Runs and checkpoints written next still fit."""


@dataclass(frozen=True)
class StoreRecipe:
    """How one decoded RGB image becomes one store row: ``prepare`` returns a uint8 ``(size, size, 3)`` array.

    ``description`` (JSON) says everything that decides those pixels (size, pad mode,
    interpolation, ...): it is part of the key, so another recipe never reads this store.
    """

    name: str
    size: int
    description: dict[str, Any]
    prepare: Callable[[Image.Image], np.ndarray] = field(compare=False)


@dataclass(frozen=True)
class ImageStore:
    """An opened store: the memory-mapped ``train``/``test`` arrays and the row of every image path."""

    path: Path
    key: str
    recipe: dict[str, Any]
    arrays: dict[str, np.ndarray]
    row_of: dict[str, tuple[str, int]]

    def locate(self, paths: Sequence[str | os.PathLike[str]]) -> tuple[np.ndarray, np.ndarray] | None:
        """The array and the rows holding ``paths`` (all of one part), or None when any of them is not in the store."""
        try:
            places = [self.row_of[str(p)] for p in paths]
        except KeyError:
            return None
        parts = {part for part, _ in places}
        if len(parts) != 1:
            return None
        return self.arrays[parts.pop()], np.fromiter((row for _, row in places), dtype=np.int64, count=len(places))

    def summary(self) -> dict[str, Any]:
        """What a Run records about the store it read: its key and recipe."""
        return {"key": self.key, "recipe": self.recipe}


def in_kaggle_kernel() -> bool:
    return Path("/kaggle/working").is_dir() or "KAGGLE_KERNEL_RUN_TYPE" in os.environ


def store_root(setting: str, work: str | os.PathLike[str]) -> Path | None:
    """Where stores live: ``--image-store DIR``, else ``$CORNKIT_IMAGE_STORE``, else ``WORK/image-store``; None for ``none`` (read files).

    In a Kaggle kernel the default is scratch space (``/kaggle/tmp``, else the system's temporary
    folder), never ``/kaggle/working``: that keeps only 20 GB and would upload the store as output.
    """
    value = setting if setting != "auto" else os.environ.get(ENV_VAR, "").strip() or "auto"
    if value.lower() == "none":
        return None
    if value != "auto":
        return Path(value).expanduser()
    if in_kaggle_kernel():
        scratch = Path("/kaggle/tmp")
        return (scratch if scratch.is_dir() else Path(tempfile.gettempdir())) / f"cornkit-{STORE_DIR}"
    return Path(work) / STORE_DIR


def _stamp(path: Path, root: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns)


def store_key(dataset: Dataset, recipe: StoreRecipe) -> str:
    """Hash of the format version, the recipe and every image's path, size and ``mtime_ns`` (one ``stat`` each, no reading)."""
    images = {part: [_stamp(p, dataset.root) for p in dataset.image_paths(part)] for part in PARTS}
    payload = json.dumps({"format": FORMAT_VERSION, "recipe": recipe.description, "images": images}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def store_bytes(n_images: int, size: int) -> int:
    return n_images * size * size * 3


def _human(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


def _free_bytes(folder: Path) -> int:
    """Free space on the filesystem that will hold ``folder`` (its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _problem(path: Path, key: str, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """Why the store folder ``path`` cannot be read (incomplete, another recipe, truncated), or None."""
    if not (path / "meta.json").is_file():
        return "meta.json is missing: an interrupted build"
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as error:
        return f"meta.json does not read ({type(error).__name__})"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
        return "it was made for other images, another recipe or another format"
    for part, shape in shapes.items():
        file = path / f"{part}.npy"
        try:
            array = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            return f"{file.name} does not read ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
        if array.shape != shape or array.dtype != np.uint8 or file.stat().st_size != array.offset + array.nbytes:
            return f"{file.name} holds {array.shape} {array.dtype} in {file.stat().st_size} bytes, not {shape} uint8"
    return None


def _open(path: Path, key: str, recipe: StoreRecipe, dataset: Dataset) -> ImageStore:
    arrays = {part: np.load(path / f"{part}.npy", mmap_mode="r", allow_pickle=False) for part in PARTS}
    row_of = {str(p): (part, row) for part in PARTS for row, p in enumerate(dataset.image_paths(part))}
    return ImageStore(path=path, key=key, recipe=recipe.description, arrays=arrays, row_of=row_of)


class _NoSpace(Exception):
    """The filesystem refused to reserve the store's blocks (after the free-space check passed)."""


def _reserve(file: Path, n_bytes: int) -> None:
    """Allocate the file's blocks now: writing a memory map onto a full disk would end the process with SIGBUS."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(file, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, n_bytes)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise _NoSpace(os.strerror(error.errno)) from None
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    finally:
        os.close(fd)


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _fill(file: Path, paths: Sequence[Path], ids: Sequence[str], recipe: StoreRecipe, id_column: str, desc: str) -> None:
    """Decode ``paths`` with every core (PIL releases the GIL while decoding and resizing) into a new ``.npy`` at ``file``."""
    shape = (len(paths), recipe.size, recipe.size, 3)
    array = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=shape)
    _reserve(file, array.offset + array.nbytes)

    def put(row: int) -> None:
        pixels = recipe.prepare(read_image(paths[row], f"image store, image of {id_column} {ids[row]}"))
        if pixels.shape != shape[1:] or pixels.dtype != np.uint8:
            raise CornkitError(
                f"image store: the {recipe.name} recipe made {pixels.shape} {pixels.dtype} of {paths[row]}, not {shape[1:]} uint8; use --image-store none."
            )
        array[row] = pixels

    with progress(desc, len(paths), "img") as advance, ThreadPoolExecutor(max_workers=_workers()) as pool:
        for _ in pool.map(put, range(len(paths))):
            advance(1)
    array.flush()


def open_store(dataset: Dataset, recipe: StoreRecipe, root: Path) -> ImageStore | None:
    """The store of ``recipe`` for every train and test image of ``dataset`` under ``root``: reused, or built once.

    Returns None (after one line saying so) when the disk cannot hold it: the caller reads the
    image files as without a store. A broken image ends the build with a CornkitError naming it.
    """
    key = store_key(dataset, recipe)
    path = root / f"{recipe.name}-{recipe.size}-{key}"
    shapes: dict[str, tuple[int, ...]] = {part: (len(dataset.image_paths(part)), recipe.size, recipe.size, 3) for part in PARTS}
    with locked(path, f"build the image store {path}"):
        if path.exists():
            problem = _problem(path, key, shapes)
            if problem is None:
                log.info("image store: reusing %s", path)
                return _open(path, key, recipe, dataset)
            log.warning("image store: %s is not usable (%s); building it again.", path, problem)
        n_images = sum(shape[0] for shape in shapes.values())
        need, free = store_bytes(n_images, recipe.size), _free_bytes(root)
        if need + SPARE_BYTES > free:
            log.warning(
                f"image store: {n_images} images at {recipe.size} px need {_human(need)}, but {root} has {_human(free)} free; "
                "reading the image files instead (give --image-store DIR on a larger disk, or --image-store none)."
            )
            return None
        log.info("image store: decoding %d images once into %s (%s)", n_images, path, _human(need))
        try:
            with atomic_dir(path) as folder:
                for part in PARTS:
                    paths, ids = dataset.image_paths(part), dataset.ids(part)
                    _fill(folder / f"{part}.npy", paths, ids, recipe, dataset.id_column, f"image store ({part})")
                write_json(folder / "meta.json", {"format": FORMAT_VERSION, "key": key, "recipe": recipe.description, "data": str(dataset.root)})
        except _NoSpace as error:
            log.warning("image store: %s cannot hold %s (%s); reading the image files instead.", root, _human(need), error)
            return None
        problem = _problem(path, key, shapes)
        if problem is not None:
            raise CornkitError(f"the image store just written to {path} does not read back ({problem}); check the disk, or give --image-store none.")
        return _open(path, key, recipe, dataset)

"""Write files so that a crash or a bad input never leaves a half-written one behind.

Everything cornkit writes goes to a temporary name in the same folder first and is renamed
into place only once complete (``os.replace`` is atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_public(path: Path, mode: int) -> None:
    """Give a temp file or folder the permissions a plain ``open``/``mkdir`` would have.

    ``mkstemp``/``mkdtemp`` create them private (0600/0700), which would make every Run,
    submission and kernel folder unreadable to anyone else on a shared machine.
    """
    path.chmod(mode & ~_umask())


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` if the block succeeds.

    With ``overwrite=False`` an existing target is never replaced: the final step is a hard
    link, which fails if the name exists, so two writers cannot both win.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _make_public(tmp, 0o666)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON, atomically (sorted keys keep diffs stable)."""
    return write_text(target, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(target: str | os.PathLike[str], frame: pd.DataFrame, *, overwrite: bool = True) -> Path:
    """Write ``frame`` without its index, atomically, with a fixed float format for stable bytes."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g", lineterminator="\n")
    return Path(target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; swap it in for ``target`` on success.

    An interrupted run leaves only a ``.tmp`` folder, never a half-filled ``target``; the old
    ``target`` (if any) stays intact until the new one is complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    _make_public(tmp, 0o777)
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

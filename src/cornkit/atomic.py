"""Write files so that a crash, a full disk or a concurrent command never leaves a half-written one behind.

Everything cornkit writes goes to a temporary name in the same folder first and is renamed
into place only once complete (``os.replace`` is atomic on one filesystem). Temporaries are
hidden and carry the writer's process id (``.<name>.pid<N>.<random>.tmp``): a command killed
with SIGKILL cannot clean up, so the next write into that folder removes the temporaries of
writers that are no longer alive (:func:`reap_stale`), and never those of a command still
running. A full disk, a file-size limit or a name too long for the filesystem ends in one
:class:`~cornkit.errors.CornkitError` naming the path, with the temporary removed, whichever
library was writing (pandas, numpy, torch, joblib, matplotlib: :func:`write_failure`).

A rename is atomic but not durable: after a power loss the new name may point at a file whose
blocks never reached the disk (empty, or zero-filled, which a preallocated image store's size
check would not notice). So, as SQLite does, every file is fsynced before its rename and the
folder holding the new name after it (:func:`_sync`); for :func:`atomic_dir`, every file and
folder written inside too. benchmarks/durable_writes.py measures what it costs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import resource
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import CornkitError
from .locks import locked

STALE_NAME = re.compile(r"^\..*[.-]pid(\d+)[.-].*")
"""A hidden temporary or scratch folder that names its owner's pid (``.x.pid12.ab.tmp``, ``.scratch-finetune-pid12-ab``)."""
SCRATCH_PREFIX = "scratch-"
"""What every training scratch folder's name starts with (after the dot), so that reaping knows it."""
WRITE_ERRNOS = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EFBIG: "the file is larger than this system allows (ulimit -f or the filesystem's limit)",
    errno.ENAMETOOLONG: "the path is too long for the filesystem: use a shorter --work, --out or file name",
    errno.EDQUOT: "the disk quota is exhausted: free some space",
    errno.EROFS: "the filesystem is read-only: write somewhere else",
}


def owner_tag() -> str:
    """``pid<N>``: the part of a temporary's name that tells :func:`reap_stale` whose it is."""
    return f"pid{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def reap_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the hidden temporaries in ``folder`` whose owning process is dead; return what was removed.

    Only names made by this module (``.tmp``) or by a training scratch folder (``.scratch-<approach>-pid<N>-``)
    are considered, and only when process ``N`` no longer exists, so a command running beside this
    one keeps its temporaries.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = STALE_NAME.match(entry.name)
        if not match or not (entry.name.endswith(".tmp") or entry.name.startswith("." + SCRATCH_PREFIX)):
            continue
        if int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch_dir(parent: str | os.PathLike[str], prefix: str) -> Iterator[str]:
    """A temporary folder in ``parent`` named ``<prefix>pid<N>-...``, reaped by :func:`reap_stale` if its owner is killed.

    Whatever is written there (checkpoints, an exported learner) that meets a full disk or a
    size limit ends in one line naming the folder, and the folder is removed.
    """
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{owner_tag()}-", dir=parent) as folder, _named_write_errors(Path(parent), Path(folder)):
        yield folder


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


def _errno_of(error: BaseException) -> int | None:
    """The first errno in ``error`` or what it was raised from."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


def _size_limit_reached(written: Path | None) -> bool:
    """Whether ``written`` (a file, or a file in that folder) reached this process's file-size limit (``ulimit -f``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if written is None or soft == resource.RLIM_INFINITY:
        return False
    files = [written] if written.is_file() else [p for p in written.rglob("*") if p.is_file()]
    return any(p.stat().st_size >= soft for p in files)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def write_failure(error: BaseException, folder: Path, written: Path | None = None) -> str | None:
    """Why writing into ``folder`` failed, if it was the disk or a limit; None for anything else.

    Libraries do not all keep the errno: numpy's ``tofile`` says "7680 requested and 992
    written" and torch's zip writer raises a RuntimeError. So besides the errno the system
    itself is asked: a file under ``written`` at the file-size limit, or no free block left.
    """
    number = _errno_of(error)
    if number in WRITE_ERRNOS:
        return WRITE_ERRNOS[number]
    if _size_limit_reached(written):
        return WRITE_ERRNOS[errno.EFBIG]
    if _disk_full(folder):
        return WRITE_ERRNOS[errno.ENOSPC]
    return None


@contextlib.contextmanager
def _named_write_errors(target: Path, written: Path | None = None) -> Iterator[None]:
    """Turn a full disk, a size limit or a too-long name, however a library reports it, into one line naming ``target``.

    ``written`` is the temporary being written (still there: the check looks at its size).
    """
    try:
        yield
    except CornkitError:
        raise
    except Exception as error:
        why = write_failure(error, target.parent, written)
        if why is None:
            raise
        raise CornkitError(f"cannot write {target}: {why}. Nothing was written there.") from None


def _sync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk (a read-only descriptor suffices on POSIX)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """Fsync every file and folder under ``folder``, the deepest first, then ``folder`` itself."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                _sync(Path(root, name))
        _sync(Path(root))


def _temp_prefix(target: Path) -> str:
    return f".{target.name[:100]}.{owner_tag()}."


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` if the block succeeds.

    With ``overwrite=False`` an existing target is never replaced: the final step is a hard
    link, which fails if the name exists, so two writers cannot both win.
    """
    target = Path(target)
    with _named_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        reap_stale(target.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with _named_write_errors(target, tmp):
                _make_public(tmp, 0o666)
                yield tmp
                _sync(tmp)
                if overwrite:
                    os.replace(tmp, target)
                else:
                    os.link(tmp, target)
                _sync(target.parent)
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

    An interrupted run leaves only a ``.tmp`` folder (reaped by the next write once its owner
    is dead), never a half-filled ``target``; the old ``target`` (if any) stays intact until
    the new one is complete. The swap holds ``target``'s lock, and the old folder moves to a
    name of its own, so two commands finishing the same folder at once both succeed (the
    later one wins) instead of one failing with "directory not empty".
    """
    target = Path(target)
    with _named_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        reap_stale(target.parent)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
        try:
            with _named_write_errors(target, tmp):
                _make_public(tmp, 0o777)
                yield tmp
                _sync_tree(tmp)
            with locked(target, f"replace {target.name}"):
                if target.exists():
                    old = Path(tempfile.mkdtemp(prefix=_temp_prefix(target) + "old.", suffix=".tmp", dir=target.parent))
                    os.replace(target, old)
                    os.replace(tmp, target)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, target)
                _sync(target.parent)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

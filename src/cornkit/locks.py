"""One file lock per shared file, so concurrent cornkit commands never lose each other's writes.

Atomic renames keep every file whole, but a read-modify-write (the submissions ledger, the
split, the feature cache, a Run folder being swapped in) also needs the reader and the writer
to be the same process for the whole step: two ``cornkit submit`` started at once would each
read the old ledger and the second rename would drop the first one's row. :func:`locked`
holds an OS-level lock (``filelock``: ``flock`` on POSIX, released by the kernel when the
holder dies, so a killed command never leaves a lock held) for the length of the step. Locks
are reentrant in one process, so a locked step may call another that takes the same lock.

filelock leaves its lock files on POSIX, by design (removing one races with a waiter that has
just opened it). They live in one hidden folder, :data:`LOCK_DIR`, in the folder of the file
they guard (``WORK/``, ``WORK/runs/``, ``submissions/``...), which holds a ``.gitignore`` of
``*``: they clutter no listing and never show in ``git status``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import CornkitError

log = logging.getLogger(__name__)

TIMEOUT_ENV = "CORNKIT_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 3600.0
"""Long enough for another command's feature extraction; a holder that dies releases at once."""
NOTICE_AFTER_S = 1.0


LOCK_DIR = ".cornkit-locks"
"""The hidden folder, beside the guarded file, that holds its lock file."""
GITIGNORE = "# cornkit's lock files: never commit them\n*\n"


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of ``path``: ``<name>.lock`` in :data:`LOCK_DIR` in the same folder."""
    path = Path(path)
    return path.parent / LOCK_DIR / f"{path.name}.lock"


def _make_lock_dir(folder: Path) -> None:
    """Create ``folder`` with a ``.gitignore`` that ignores everything in it (itself included).

    A full disk or a file-size limit (``ulimit -f``) ends in one line, as for every other
    writer, and a lock folder this call made is removed again: nothing half-made stays.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
        made = True
    except FileExistsError:
        made = False
    ignore = folder / ".gitignore"
    if ignore.exists():
        return
    tmp = folder / f".gitignore.{os.getpid()}.tmp"
    try:
        tmp.write_text(GITIGNORE)
        os.replace(tmp, ignore)  # whole, also when two commands make the folder at once
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        from .atomic import write_failure  # atomic imports this module

        why = write_failure(error, folder.parent)
        if why is None:
            raise
        raise CornkitError(f"cannot write {ignore}: {why}. Nothing was written there.") from None


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise CornkitError(f"{TIMEOUT_ENV}={text!r}: give a number of seconds above 0, e.g. 600.")
    return seconds


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], what: str, *, optional: bool = False) -> Iterator[None]:
    """Hold the lock of ``path`` while the block runs; ``what`` names the step in the waiting notice and errors.

    A lock held by another command is waited for (with one line on stderr after a second), up
    to ``CORNKIT_LOCK_TIMEOUT`` seconds (default an hour), then refused in one line.
    ``optional=True`` (for a reader) goes on unlocked where no lock file can be made, e.g. a
    read-only folder no command can be writing to.
    """
    target = lock_path(path)
    lock = FileLock(target, is_singleton=True)
    try:
        _make_lock_dir(target.parent)
        _acquire(lock, path, what)
    except OSError:
        if not optional:
            raise
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _acquire(lock: FileLock, path: str | os.PathLike[str], what: str) -> None:
    try:
        lock.acquire(timeout=NOTICE_AFTER_S)
    except Timeout:
        log.info("waiting for another cornkit command to finish with %s (%s)...", Path(path), what)
        timeout = _timeout()
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise CornkitError(
                f"{what}: another cornkit command has held {lock.lock_file} for over {timeout:g} s; let it finish (or raise {TIMEOUT_ENV}), then try again."
            ) from None

"""What every command does around its work: SIGTERM like Ctrl-C, stale temporaries reaped, no worker left behind.

``kill PID`` (SIGTERM, also what a batch scheduler or ``timeout`` sends) would end Python without
running any ``finally`` block, leaving ``.tmp`` folders and scratch space behind; turning it into
:class:`KeyboardInterrupt` lets the atomic writers clean up exactly as on Ctrl-C. SIGKILL cannot
be caught, so each command first removes the temporaries of cornkit processes that are dead
(:func:`cornkit.atomic.reap_stale`), never those of a command still running. The kit's own
parallel estimators run in threads (:mod:`cornkit.workers`), which die with the command even
on SIGKILL; a loky pool that other code (a plugin head's ``n_jobs``) started is shut down
before the command returns, so none outlives it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from ..atomic import reap_stale
from ..paths import check_length

FOLDER_FLAGS = ("work", "submissions", "out", "kernels")
SUBFOLDERS = ("", "runs", "features", "reports", "image-store")  # cornkit.data.image_store.STORE_DIR


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises KeyboardInterrupt (main thread only, where Python delivers signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_path_flags(args: argparse.Namespace) -> None:
    """Refuse a path flag too long for the filesystem in one line naming the flag, before anything uses it."""
    for dest, value in vars(args).items():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, Path):
                check_length(path, f"--{dest.replace('_', '-')} {str(path)[:60]}...")


def reap_command_folders(args: argparse.Namespace) -> None:
    """Remove dead commands' temporaries from the folders this command was given (``--work`` and the like)."""
    for flag in FOLDER_FLAGS:
        folder = getattr(args, flag, None)
        if isinstance(folder, Path):
            for sub in SUBFOLDERS:
                reap_stale(folder / sub if sub else folder)


def stop_worker_pools() -> None:
    """Shut down joblib's reusable loky pool, if this command started one, killing its workers."""
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None) if loky else None
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
        loky._executor = None  # type: ignore[union-attr]

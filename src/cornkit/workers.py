"""Parallel work inside a command runs in threads, so that no worker outlives the command.

scikit-learn's ``n_jobs`` runs on joblib, whose default backend (loky) starts worker processes
and keeps them for reuse. A command that ends normally shuts them down
(:func:`cornkit.cli.lifecycle.stop_worker_pools`), but one killed with SIGKILL (a Kaggle kernel
past its time limit, the OOM killer) cannot, and its workers keep burning CPU as orphans.
Threads die with their process, whatever ends it; the estimators the kit runs in parallel
(the probe's cross-validation folds) spend their time in NumPy and SciPy code that releases
the GIL, so threads lose little. joblib is imported only when used (it costs a plain command
a fifth of a second).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def in_threads() -> Iterator[None]:
    """While the block runs, joblib (and so every scikit-learn ``n_jobs``) uses threads, never worker processes."""
    from joblib import parallel_config

    with parallel_config(backend="threading"):
        yield

"""The parameters of ``cornkit sweep`` itself, declared once (the CLI flags come from here, as a head's do)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..params import Params, param
from .storage import DEFAULT_HEARTBEAT_S

PRUNERS = ("none", "median", "hyperband")


@dataclass(frozen=True, kw_only=True)
class SweepParams(Params):
    trials: int = param(help="the study's total of finished trials: run again, the same command only finishes what is missing", low=1)
    space: str | None = param(
        None, "what to sweep, e.g. 'lr=1e-5..1e-3:log,epochs=4..16,mixup=0..0.4' (default: the head's declared space); 'none': only the flags' values"
    )
    study: str | None = param(None, "study name (default: the head, split, fixed flags and space, hashed)")
    storage: str | None = param(None, "Optuna storage URL, e.g. postgresql://user@host/db to share a study between machines (default: WORK/sweeps/studies.db)")
    workers: int = param(1, "processes on this machine working on the study together", low=1)
    timeout: float | None = param(None, "start no trial after this many seconds (the running ones finish)", low=0.0, low_open=True)
    pruner: str = param("median", "stop hopeless trials of heads that train by epochs, by their monitor score after each epoch", choices=PRUNERS)
    heartbeat: int = param(
        DEFAULT_HEARTBEAT_S, "seconds between a trial's heartbeats; a trial silent for twice that (its process died) is failed and retried", low=1
    )
    kernels: int | None = param(None, "run the trials as Kaggle kernels, this many in flight at once (ask and tell; see the README's Sweeps)", low=1)
    max_running: int = param(2, "with --kernels: GPU kernels running at once, at most Kaggle's session limit", low=1)
    kernels_dir: Path = param(Path("kernels"), "with --kernels: folder of the trials' kernel folders")
    user: str | None = param(None, "with --kernels: your Kaggle username (default: the one in your credentials)")
    accelerator: str | None = param(None, "with --kernels: the Kaggle accelerator of each trial's kernel, e.g. NvidiaTeslaT4")

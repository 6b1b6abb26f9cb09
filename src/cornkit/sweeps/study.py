"""``cornkit sweep HEAD``: an Optuna study whose trials are ordinary Runs, scored honestly, resumable, shared by workers.

Each trial takes the head's parameters fixed by flags, adds what Optuna's seeded TPE sampler
suggests for the search space (:mod:`.space`), scores the head by the objective of
:mod:`.objective` (rows the validation split never sees) and makes its Run on the split, so
``score``, ``submit``, ``ensemble``, ``report`` and ``kernels`` take any trial. The trial records
its Run id and validation score (user attributes); a trial whose parameters were trained
already reuses that Run (:mod:`.reuse`).

``trials`` is the study's total, counted under the study's start lock (:mod:`.storage`):
run again after the study finished, the same command starts nothing; after a kill, it
finishes the rest, and a trial left RUNNING by a dead process is failed by the heartbeat and
queued again. The sampler is reseeded for each trial from the seed and the trial's number, so
one process or several, the same trial number draws from the same random stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import params as declared
from ..errors import CornkitError
from ..hashing import config_hash
from ..runs.competition_metric import get_metric
from .objective import RowsWatcher, check_objective_possible, features_objective, images_objective
from .params import SweepParams
from .reuse import TrialRecord, find_record, save_record, trial_key
from .space import Dimension, search_space, space_text
from .storage import embedded_url, open_storage, shown_url, start_lock

if TYPE_CHECKING:
    import optuna

    from ..data.dataset import Dataset
    from ..data.split import Split
    from ..heads.registry import Head

log = logging.getLogger(__name__)

RUN_ID_ATTR = "run_id"
WAIT_POLL_S = 2.0
"""How often a worker with nothing left to start looks whether the others' trials finished (or died)."""
WORKER_ATTR = "worker"
"""The host and process that ran a trial (``host:pid``)."""
KERNEL_ATTR = "kernel"
"""A kernels sweep's trial: its kernel (the folder name under ``--kernels-dir``), set when the trial is asked."""
IDENTITY_ATTR = "cornkit"
"""The study's user attribute that records what it sweeps: the head, split, metric, fixed flags and space."""


@dataclass(frozen=True)
class SweepResult:
    """Where a sweep stands: its study, how many trials finished, and the best one (None before any completed)."""

    study: str
    storage: str
    finished: int
    best_trial: int | None
    run_id: str | None
    objective: float | None
    val_score: float | None
    metric: str


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's lines go through logging like the kit's (no handler of its own on stderr), its experimental-feature warnings off."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial's error reaches the user once, as the command's own line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Importances of trials that tie: Optuna draws equal bars and says so on stderr; the plot already shows it.
        warnings.filterwarnings("ignore", message="Target and region quantiles select the same set of trials", category=UserWarning)
        yield


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def trial_sampler(seed: int, number: int) -> optuna.samplers.TPESampler:
    """TPE for trial ``number``: its random stream from ``(seed, number)``, whichever process asks.

    The stream is seeded with eight words of a SeedSequence, which NumPy's RandomState (behind
    Optuna's samplers) takes as an array: one 32-bit seed per trial would give trials whose first
    draws nearly coincide (MT19937 seeded by neighbouring integers starts alike).
    """
    import optuna

    words: Any = [int(word) for word in np.random.SeedSequence([seed, number]).generate_state(8)]
    return optuna.samplers.TPESampler(seed=words, constant_liar=True)


def study_identity(head: Head, split: Split, fixed: dict[str, Any], dimensions: Sequence[Dimension]) -> dict[str, Any]:
    """What a study sweeps: two commands that differ here are two studies (where a process runs, ``--device`` say, is not part of it)."""
    recorded = {p.name for p in declared.parameters(head.params) if p.constraint.record}
    shown = {name: list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v for name, v in sorted(fixed.items()) if name in recorded}
    return {"head": head.name, "split_id": split.split_id, "metric": split.metric, "fixed": shown, "space": space_text(dimensions)}


def default_study_name(identity: dict[str, Any]) -> str:
    return f"{identity['head']}-{config_hash(identity)}"


def _check_identity(study: optuna.Study, identity: dict[str, Any]) -> None:
    recorded = study.user_attrs.get(IDENTITY_ATTR)
    if recorded is None:
        study.set_user_attr(IDENTITY_ATTR, identity)
        return
    for key in ("head", "split_id", "metric", "fixed", "space"):
        if recorded.get(key) != identity[key]:
            raise CornkitError(
                f"study {study.study_name!r} sweeps {key} {recorded.get(key)!r}, and this command {identity[key]!r}: "
                "give the same flags, or another --study (leave --study out for a name of its own)."
            )


def finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def _count(study: optuna.Study) -> tuple[int, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in finished_states() for t in trials)
    return finished, sum(t.state == TrialState.RUNNING for t in trials)


class Sweep:
    """One worker of a study: it starts trials until the study holds ``trials`` finished ones (or the timeout passes)."""

    def __init__(
        self,
        head: Head,
        dataset: Dataset,
        split: Split,
        work: str | Path,
        fixed: dict[str, Any],
        options: SweepParams,
        *,
        pruner: optuna.pruners.BasePruner | None = None,
        watch: RowsWatcher | None = None,
    ) -> None:
        self.head, self.dataset, self.split, self.work = head, dataset, split, Path(work)
        self.fixed, self.options, self.watch = dict(fixed), options, watch
        base = head.build_params(**self.fixed)  # the fixed flags checked once, before any trial
        check_objective_possible(head, base)
        self.seed = int(getattr(base, "seed", 0))
        self.dimensions = search_space(head.params, options.space, self.fixed.keys(), head.name)
        self.metric = get_metric(split.metric)
        self.identity = study_identity(head, split, self.fixed, self.dimensions)
        self.name = options.study or default_study_name(self.identity)
        self.url = options.storage or embedded_url(self.work)
        self._pruner = pruner if pruner is not None else make_pruner(options.pruner)

    def open(self, *, heartbeat: bool = True) -> optuna.Study:
        """The study (created on first use), its identity checked against this command's; ``heartbeat=False`` for ask and tell."""
        import optuna

        with quiet_optuna():
            study = optuna.create_study(
                study_name=self.name,
                storage=open_storage(self.url, self.options.heartbeat if heartbeat else None),
                direction="maximize" if self.metric.greater_is_better else "minimize",
                pruner=self._pruner,
                load_if_exists=True,
            )
        _check_identity(study, self.identity)
        return study

    def run(self) -> SweepResult:
        """Start trials until the study is full, wait for the other workers' last trials, then return where it stands.

        Waiting, the worker keeps failing stale trials: a trial whose worker died is queued
        again and this worker runs it, so every worker ends with the same, finished study.
        """
        import optuna

        study = self.open()
        started = time.monotonic()
        waiting_noted = False
        with quiet_optuna():
            while self.options.timeout is None or time.monotonic() - started < self.options.timeout:
                with contextlib.ExitStack() as lock:
                    lock.enter_context(start_lock(self.url, self.name))
                    optuna.storages.fail_stale_trials(study)
                    finished, running = _count(study)
                    if finished >= self.options.trials:
                        break
                    if finished + running < self.options.trials:
                        study.sampler = trial_sampler(self.seed, len(study.get_trials(deepcopy=False)))
                        study.optimize(self._objective(lock.close), n_trials=1, gc_after_trial=False)
                        continue
                if not waiting_noted:
                    log.info("study %s: every trial is started; waiting for the %d running in other workers", self.name, running)
                    waiting_noted = True
                time.sleep(min(WAIT_POLL_S, self.options.heartbeat))
        return result_of(study, self.url, self.metric.name)

    def _objective(self, release: Callable[[], None]) -> Callable[[optuna.Trial], float]:
        def objective(trial: optuna.Trial) -> float:
            release()  # the trial is RUNNING in the storage now: every other worker's count includes it
            return self._trial(trial)

        return objective

    def _trial(self, trial: optuna.Trial) -> float:
        from ..heads.registry import HeadContext

        suggested = {d.name: d.suggest(trial) for d in self.dimensions}
        params = self.head.build_params(**self.fixed, **suggested)
        key = trial_key(self.head.name, params, self.split.split_id)
        record = find_record(self.work, key)
        if record is None:
            ctx = HeadContext(self.dataset, self.split, self.work, params, epoch_report=self._reporter(trial) if self.head.inputs == "images" else None)
            record = self._train(ctx)
            save_record(self.work, key, record)
            reused = ""
        else:
            reused = " (its Run was made already)"
        mark_trial(trial, self.work, record.run_id, self.metric.name, worker_name())
        log.info(
            "trial %d (study of %d): %s: objective %s %.4f%s; Run %s",
            trial.number,
            self.options.trials,
            shown_values(suggested),
            self.metric.name,
            record.objective,
            reused,
            record.run_id,
        )
        return record.objective

    def _train(self, ctx: Any) -> TrialRecord:
        if self.head.inputs == "features":
            objective = features_objective(ctx, self.head, self.watch)
            run = self.head.run(ctx)
        else:
            run = self.head.run(ctx)
            objective = images_objective(run)
        return TrialRecord(run.run_id, objective)

    def _reporter(self, trial: optuna.Trial) -> Callable[[int, float], None]:
        import optuna

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"monitor {self.metric.name} {value:.4f} after epoch {step + 1}")

        return report


def mark_trial(trial: optuna.Trial, work: Path, run_id: str, metric: str, worker: str) -> None:
    """Record on the trial its Run, that Run's validation score (the honest estimate) and who ran it."""
    from ..runs.run import load_run

    trial.set_user_attr(RUN_ID_ATTR, run_id)
    trial.set_user_attr(f"val_{metric}", float(load_run(run_id, work).metrics[f"val_{metric}"]))
    trial.set_user_attr(WORKER_ATTR, worker)


def shown_values(suggested: dict[str, Any]) -> str:
    """A trial's draws as one log line shows them."""
    return ", ".join(f"{name}={_shown(value)}" for name, value in suggested.items()) or "the fixed parameters"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def result_of(study: optuna.Study, url: str, metric: str) -> SweepResult:
    """Where ``study`` stands: its finished trials and the best completed one."""
    from optuna.trial import TrialState

    finished, _ = _count(study)
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return SweepResult(study.study_name, url, finished, None, None, None, None, metric)
    best = study.best_trial
    val = best.user_attrs.get(f"val_{metric}")
    return SweepResult(study.study_name, url, finished, best.number, best.user_attrs.get(RUN_ID_ATTR), best.value, val, metric)


def load_study(name: str, url: str) -> optuna.Study:
    """An existing study (a one-line error naming the studies there when it is not)."""
    import optuna

    with quiet_optuna():
        storage = open_storage(url)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        if name not in names:
            raise CornkitError(f"no study {name!r} in {shown_url(url)}: studies there: {', '.join(names) or 'none'}.")
        return optuna.load_study(study_name=name, storage=storage)

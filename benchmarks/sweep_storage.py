"""Several processes on one Optuna study: the kit's SQLite storage against Optuna's journal file.

Not part of the test suite. K processes share one study and each runs trials of a trivial
objective (a sleep of ``--trial-s``) until together they have run ``--trials``; short trials are the
worst case for a storage, as every trial is a few writes. For each storage it prints the wall
time, the trials per second, how many trials completed, how many failed and how many storage
errors the workers met (SQLite's "database is locked", for one), and whether the storage has
Optuna's heartbeat (what frees the trials of a SIGKILLed process).

    .venv/bin/python benchmarks/sweep_storage.py --processes 4 --trials 400
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled

from cornkit.sweeps.storage import open_storage


def _storage(kind: str, folder: Path) -> Any:
    if kind == "sqlite (cornkit: RDBStorage, heartbeat, 60 s lock wait)":
        return open_storage(f"sqlite:///{folder / 'studies.db'}", heartbeat_s=60)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(folder / "journal.log")))


def _worker(kind: str, folder: Path, trials: int, trial_s: float, errors: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    storage = _storage(kind, folder)
    study = optuna.load_study(study_name="bench", storage=storage)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        time.sleep(trial_s)
        return x * x

    def full(study: optuna.Study, _trial: Any) -> None:
        if len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) >= trials:
            study.stop()

    while len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) < trials:
        try:
            study.optimize(objective, n_trials=trials, callbacks=[full])
        except Exception:  # a storage error ends this worker's optimize: count it and go on
            with errors.get_lock():
                errors.value += 1


def measure(kind: str, processes: int, trials: int, trial_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        optuna.create_study(study_name="bench", storage=_storage(kind, folder), sampler=optuna.samplers.RandomSampler(seed=0))
        errors = multiprocessing.Value("i", 0)
        started = time.perf_counter()
        workers = [multiprocessing.Process(target=_worker, args=(kind, folder, trials, trial_s, errors)) for _ in range(processes)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=_storage(kind, folder))
        states = [t.state for t in study.get_trials(deepcopy=False)]
        complete = states.count(optuna.trial.TrialState.COMPLETE)
        heartbeat = is_heartbeat_enabled(study._storage)
        return {
            "storage": kind,
            "wall_s": wall,
            "trials_per_s": complete / wall,
            "complete": complete,
            "failed": states.count(optuna.trial.TrialState.FAIL),
            "storage_errors": errors.value,
            "heartbeat": heartbeat,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--trial-s", type=float, default=0.0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, optuna {optuna.__version__}"
    print(f"{machine}; {args.processes} processes, {args.trials} trials of {args.trial_s} s")
    for kind in ("sqlite (cornkit: RDBStorage, heartbeat, 60 s lock wait)", "journal file (JournalFileBackend)"):
        r = measure(kind, args.processes, args.trials, args.trial_s)
        print(
            f"{r['storage']}: {r['wall_s']:.1f} s, {r['trials_per_s']:.1f} trials/s, {r['complete']} complete (asked for {args.trials}; "
            f"without the kit's start lock workers overshoot), {r['failed']} failed, {r['storage_errors']} storage errors, "
            f"heartbeat {'yes' if r['heartbeat'] else 'no'}"
        )


if __name__ == "__main__":
    main()

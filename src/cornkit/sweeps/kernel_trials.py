"""``cornkit sweep HEAD --kernels K``: Kaggle kernels as a study's trial workers, by ask and tell.

The sweep asks Optuna for up to K trials at once. Each becomes a kernel variant
(:func:`cornkit.kaggle.kernels.build_kernel`, as ``kernels build --name`` writes one) whose notebook
runs ``cornkit sweep HEAD --trials 1 --space none`` with the trial's parameters as flags: on
Kaggle's GPU it makes the trial's Run and its objective, on rows the validation split never
sees exactly as a local trial does, and reports the objective in ``cornkit-run.json``. The
kernels are pushed one after another, at most ``--max-running`` GPU kernels at once (Kaggle's own
refusal for its session count is waited out, and the weekly GPU quota is read first, as
``cornkit kernels push`` does; once trial kernels have completed, a push that the quota left
could not pay for, at their mean run time, stops the sweep instead). As each kernel completes, its Run is imported and checked
(:func:`cornkit.kaggle.kernel_output.import_kernel_runs`) and its trial is told the objective;
then more trials are asked, until the study holds N finished ones.

The study's records are the sweep's state. A trial carries its kernel's name from the moment it
is asked (user attribute ``kernel``), and the version once pushed (``kernel_version``). Started
again after an interrupt, the sweep follows the kernels still in flight, pushes those asked but
never pushed, and asks only for the rest. A trial asked here has no heartbeat (it runs on Kaggle,
not in this process), so no worker fails it as stale. A kernel that ends in ERROR fails its
trial and another is asked in its place; after :data:`FAILURES_ALLOWED` failures in one command
the sweep stops and names them, rather than spend the GPU quota on a notebook that cannot run.
Pruning listens to a trial's epochs in its own process, so kernel trials are never pruned.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import params as declared
from ..errors import CornkitError
from ..hashing import config_hash
from ..kaggle.accelerators import check_accelerator
from ..kaggle.fanout import Follower, check_quota
from ..kaggle.kernel_api import FINISHED, SessionLimit, gpu_quota, push_kernel
from ..kaggle.kernel_output import import_kernel_runs
from ..kaggle.kernels import KernelFolder, KernelSpec, build_kernel, load_kernel
from ..kaggle.notebook import RUN_SUMMARY, SWEEP_TRIAL_KEY, split_flags
from ..kaggle.recipes import recipe_for
from .reuse import TrialRecord, find_record, save_record, trial_key
from .storage import start_lock
from .study import KERNEL_ATTR, SweepResult, finished_states, mark_trial, quiet_optuna, result_of, shown_values, trial_sampler

if TYPE_CHECKING:
    import optuna

    from ..heads.registry import Head
    from ..kaggle.client import KaggleSession
    from .study import Sweep

log = logging.getLogger(__name__)

VERSION_ATTR = "kernel_version"
"""The kernel version that runs the trial, set once it is pushed."""
FAILURES_ALLOWED = 3
"""Kernels of one command that may end in ERROR before the sweep stops."""


@dataclass(frozen=True)
class KernelPlan:
    """How each trial's kernel is built and pushed."""

    user: str
    folder: Path
    in_flight: int
    max_running: int
    interval_s: float
    accelerator: str | None = None


def trial_kernel_name(study: str, number: int) -> str:
    """``sweep-<6 hex of the study>-t<number>``: a valid kernel name whatever the study is called, short enough for Kaggle's titles."""
    return f"sweep-{config_hash(study)[:6]}-t{number}"


def _pause(seconds: float) -> None:
    time.sleep(seconds)


class KernelSweep:
    """The study of ``sweep``, its trials run by Kaggle kernels (see the module's docstring)."""

    def __init__(self, sweep: Sweep, plan: KernelPlan, session: KaggleSession) -> None:
        self.sweep, self.plan, self.session = sweep, plan, session
        self.follower = Follower(session)
        self.model_param = recipe_for(sweep.head).model_param
        self.template = KernelSpec(
            approach=sweep.head.name,
            user=plan.user,
            model=sweep.fixed.get(self.model_param) if self.model_param else None,
            pretrained=sweep.fixed.get("pretrained"),
            accelerator=plan.accelerator,
            split_flags=split_flags(sweep.split.params),
            sweep_trial=True,
        )
        self.waiting: dict[int, KernelFolder] = {}
        self.flying: dict[int, KernelFolder] = {}
        self.failed: list[str] = []
        self.quota_read = False
        self.refusal_said = ""
        self.run_seconds: list[float] = []
        """Push-to-COMPLETE times of this command's trial kernels: what one more trial costs of the weekly quota."""

    def run(self) -> SweepResult:
        """Ask, push, follow and tell until the study holds ``--trials`` finished trials; where it then stands."""
        study = self.sweep.open(heartbeat=False)
        started = time.monotonic()
        timeout = self.sweep.options.timeout
        with quiet_optuna():
            while True:
                asking = timeout is None or time.monotonic() - started < timeout
                finished = self._fill(study, asking)
                self._push(study)
                if not self.flying and not self.waiting and (finished >= self.sweep.options.trials or not asking):
                    break
                _pause(self.plan.interval_s)
                for number, kernel in list(self.flying.items()):
                    self._follow(study, number, kernel)
        return result_of(study, self.sweep.url, self.sweep.metric.name)

    def _fill(self, study: optuna.Study, asking: bool) -> int:
        """Take up the study's kernel trials that this command does not follow yet, then ask new ones up to ``in_flight``; the finished count."""
        from optuna.trial import TrialState

        with start_lock(self.sweep.url, self.sweep.name):
            trials = study.get_trials(deepcopy=False)
            for frozen in trials:
                name = frozen.user_attrs.get(KERNEL_ATTR)
                if frozen.state != TrialState.RUNNING or name is None or frozen.number in (*self.flying, *self.waiting):
                    continue
                if VERSION_ATTR in frozen.user_attrs:
                    self.flying[frozen.number] = load_kernel(name, self.plan.folder)
                    log.info("trial %d: following kernel %s version %s, pushed before", frozen.number, name, frozen.user_attrs[VERSION_ATTR])
                else:
                    self.waiting[frozen.number] = self._build(study, frozen.number)
            finished = sum(t.state in finished_states() for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            while asking and len(self.flying) + len(self.waiting) < self.plan.in_flight and finished + running < self.sweep.options.trials:
                study.sampler = trial_sampler(self.sweep.seed, len(study.get_trials(deepcopy=False)))
                trial = study.ask()
                record = find_record(self.sweep.work, self._key(self._params(trial)))
                if record is not None:
                    self._tell(study, trial, record, "its Run was made already", "here")
                    finished += 1
                    continue
                trial.set_user_attr(KERNEL_ATTR, trial_kernel_name(self.sweep.name, trial.number))
                try:
                    self.waiting[trial.number] = self._build(study, trial.number)
                except CornkitError:
                    study.tell(trial, state=_failed())  # a trial whose kernel cannot be built never runs: not left RUNNING
                    raise
                running += 1
        return finished

    def _suggested(self, trial: optuna.Trial) -> dict[str, Any]:
        return {d.name: d.suggest(trial) for d in self.sweep.dimensions}

    def _params(self, trial: optuna.Trial) -> Any:
        return self.sweep.head.build_params(**self.sweep.fixed, **self._suggested(trial))

    def _key(self, params: Any) -> str:
        return trial_key(self.sweep.head.name, params, self.sweep.split.split_id)

    def _trial(self, study: optuna.Study, number: int) -> optuna.Trial:
        """The live trial ``number`` (its suggestions read back as they were drawn)."""
        import optuna

        return optuna.Trial(study, study.get_trials(deepcopy=False)[number]._trial_id)

    def _build(self, study: optuna.Study, number: int) -> KernelFolder:
        """Write the trial's kernel folder: the head's one-trial sweep, its flags the fixed parameters and the trial's draws."""
        trial = self._trial(study, number)
        suggested = self._suggested(trial)
        values = {k: v for k, v in {**self.sweep.fixed, **suggested}.items() if k not in (self.model_param, "pretrained")}
        flags = tuple(declared.to_argv(self.sweep.head.params, values))
        spec = dataclasses.replace(self.template, name=str(trial.user_attrs[KERNEL_ATTR]), extra_args=flags)
        kernel = build_kernel(spec, self.plan.folder)
        log.info("trial %d: built kernel %s (%s)", number, kernel.name, shown_values(suggested))
        return kernel

    def _push(self, study: optuna.Study) -> None:
        """Push the waiting kernels in trial order while fewer than ``--max-running`` GPU kernels of this sweep run."""
        if self.waiting and not self.quota_read:
            check_quota(list(self.waiting.values()), self.session, force=True)  # the quota line; kernels never run count 0
            self.quota_read = True
        for number, kernel in sorted(self.waiting.items()):
            running = sum(1 for k in self.flying.values() if k.uses_gpu)
            if kernel.uses_gpu and running >= self.plan.max_running:
                return
            if kernel.uses_gpu:
                self._check_quota_for_one_more()
            try:
                response = push_kernel(kernel, self.session, accelerator=self.plan.accelerator)
            except SessionLimit as refusal:
                if str(refusal) != self.refusal_said:  # said once, not at every poll
                    log.info("%s: waiting to push: %s", kernel.name, refusal)
                    self.refusal_said = str(refusal)
                return
            self.refusal_said = ""
            kernel.update(kernel.record().pushed(response.version_number))
            self.follower.last.pop(kernel.name, None)
            self._trial(study, number).set_user_attr(VERSION_ATTR, response.version_number)
            log.info("trial %d: pushed kernel %s version %s: %s", number, kernel.kernel_id, response.version_number, response.url)
            self.flying[number] = self.waiting.pop(number)

    def _check_quota_for_one_more(self) -> None:
        """Stop before a push when the weekly GPU quota left is less than one trial kernel's run time (the mean of those that completed)."""
        if not self.run_seconds:
            return
        try:
            quota = gpu_quota(self.session)
        except CornkitError as error:
            log.warning("GPU quota not checked, pushing anyway: %s", error)
            return
        need_h = float(np.mean(self.run_seconds)) / 3600
        if quota is not None and quota.left_h < need_h:
            raise CornkitError(
                f"{quota.line()}: less than one trial kernel's {need_h:.2f} h (the mean run time of this sweep's completed kernels). "
                "The sweep stops here and its kernels in flight keep running; "
                "run the same command once the quota resets: it follows them and asks for the rest."
            )

    def _follow(self, study: optuna.Study, number: int, kernel: KernelFolder) -> None:
        """Poll the trial's kernel; tell the trial its objective when the kernel completed, or fail it when the kernel failed."""
        state, failure = self.follower.poll(kernel)
        if state not in FINISHED:
            return
        del self.flying[number]
        trial = self._trial(study, number)
        version = trial.user_attrs.get(VERSION_ATTR)
        if state != "COMPLETE":
            study.tell(trial, state=_failed())
            self.failed.append(f"{kernel.name} ({state}{': ' + failure if failure else ''})")
            log.warning("trial %d failed: kernel %s version %s ended %s%s", number, kernel.kernel_id, version, state, f" ({failure})" if failure else "")
            if len(self.failed) >= FAILURES_ALLOWED:
                raise CornkitError(
                    f"{len(self.failed)} trial kernels failed: {', '.join(self.failed)}. Open them on Kaggle to read their logs, "
                    "then run the same command again: it follows the kernels still in flight and asks for the rest."
                )
            return
        seconds = kernel.record().run_seconds
        self.run_seconds += [seconds] if seconds is not None else []
        imported = import_kernel_runs(kernel, self.session, self.sweep.dataset, self.sweep.work, version=version)
        reported = imported[0].summary.get(SWEEP_TRIAL_KEY) if len(imported) == 1 else None
        if not isinstance(reported, dict) or "objective" not in reported:
            raise CornkitError(
                f"kernel {kernel.kernel_id} version {version} reports no sweep objective ({RUN_SUMMARY} has no {SWEEP_TRIAL_KEY!r}, "
                f"or {len(imported)} Runs): it was not built by `cornkit sweep --kernels`; move {self.plan.folder / kernel.name} away and run the sweep again."
            )
        record = TrialRecord(imported[0].run_id, float(reported["objective"]))
        save_record(self.sweep.work, self._key(self._params(trial)), record)
        self._tell(study, trial, record, f"kernel {kernel.kernel_id} version {version}", f"kaggle:{kernel.kernel_id}/{version}")

    def _tell(self, study: optuna.Study, trial: optuna.Trial, record: TrialRecord, source: str, worker: str) -> None:
        mark_trial(trial, self.sweep.work, record.run_id, self.sweep.metric.name, worker)
        study.tell(trial, record.objective)
        log.info(
            "trial %d (study of %d): %s: objective %s %.4f (%s); Run %s",
            trial.number,
            self.sweep.options.trials,
            shown_values(self._suggested(trial)),
            self.sweep.metric.name,
            record.objective,
            source,
            record.run_id,
        )


def _failed() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL


def with_kernel_model(head: Head, fixed: dict[str, Any]) -> dict[str, Any]:
    """``fixed`` with the model and weights a kernel of ``head`` runs when no flag gives them (its recipe's, as `kernels build` takes)."""
    return {**recipe_for(head).default_params(), **fixed}


def check_kernel_options(workers: int, accelerator: str | None) -> None:
    """Refuse, before any trial is asked, several local workers with kernels (the kernels are the workers) and an unknown accelerator."""
    if workers > 1:
        raise CornkitError("--kernels and --workers: the kernels are the sweep's workers; give one of the two.")
    if accelerator is not None:
        check_accelerator(accelerator)

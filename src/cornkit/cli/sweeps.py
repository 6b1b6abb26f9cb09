"""``cornkit sweep HEAD --trials N`` (one action per registered head) and ``cornkit sweep show STUDY``.

A head's sweep takes the sweep's own flags (:class:`~cornkit.sweeps.params.SweepParams`) and the
head's flags, each of which fixes its parameter; what no flag fixes is swept over the head's
declared space, or over ``--space``. ``--workers K`` starts K-1 more of the same command, which
join the study; the first one waits for them and prints the best trial, its run id last.
``--kernels K`` runs the trials as Kaggle kernels instead, K in flight at once.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import params
from ..errors import CornkitError
from ..heads.registry import Head, all_heads
from ..sweeps.params import SweepParams
from .common import add_data_args, add_work_arg, dataset_from_args
from .kernels import kaggle_user

if TYPE_CHECKING:
    from ..sweeps.study import Sweep, SweepResult

log = logging.getLogger(__name__)

SHOW = "show"


def _sweep_flags() -> set[str]:
    return {p.name for p in params.parameters(SweepParams)}


def _worker_argv(argv: Sequence[str]) -> list[str]:
    """The same command as one worker: ``--workers K`` becomes ``--workers 1``."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--workers":
            skip = True
            continue
        if not item.startswith("--workers="):
            out.append(item)
    return [*out, "--workers", "1"]


def _run_sweep(head: Head, args: argparse.Namespace) -> None:
    from ..data.split import load_split
    from ..sweeps.show import write_study_files
    from ..sweeps.storage import shown_url
    from ..sweeps.study import Sweep

    dataset = dataset_from_args(args)
    options = params.from_namespace(SweepParams, args)
    fixed = {p.name: getattr(args, p.name) for p in params.parameters(head.params) if p.name not in _sweep_flags() and hasattr(args, p.name)}
    if options.kernels:
        from ..sweeps.kernel_trials import with_kernel_model

        fixed = with_kernel_model(head, fixed)
    sweep = Sweep(head, dataset, load_split(args.work, dataset), args.work, fixed, options)
    study = sweep.open()  # created once, before any other worker looks for it
    result = _on_kernels(sweep, args) if options.kernels else _on_workers(sweep, args)
    write_study_files(study, args.work)  # the trials table and plots that `cornkit report` shows
    print(f"study {result.study}: {result.finished} of {options.trials} trials finished ({shown_url(result.storage)})")
    if result.run_id is None:
        raise CornkitError(f"study {result.study} has no completed trial yet; run the same command again (or raise --timeout).")
    where = "cross-validated on the training rows" if head.inputs == "features" else "on the monitor rows"
    assert result.objective is not None and result.val_score is not None
    gap = result.val_score - result.objective
    print(
        f"best trial {result.best_trial}: objective {result.metric} {result.objective:.4f} ({where}); "
        f"validation {result.metric} {result.val_score:.4f} (the honest estimate; {gap:+.4f} from the objective)"
    )
    print(result.run_id)


def _on_workers(sweep: Sweep, args: argparse.Namespace) -> SweepResult:
    """This process and ``--workers`` - 1 more of the same command, each starting trials until the study is full."""
    workers = [
        subprocess.Popen([sys.executable, "-m", "cornkit", *_worker_argv(args.command_argv)], stdout=subprocess.DEVNULL)
        for _ in range(sweep.options.workers - 1)
    ]
    try:
        result = sweep.run()
    finally:
        codes = [worker.wait() for worker in workers]
    if any(codes):
        raise CornkitError(f"{sum(1 for c in codes if c)} of the {len(workers)} other worker(s) failed (exit codes {codes}); their errors are above.")
    return result


def _on_kernels(sweep: Sweep, args: argparse.Namespace) -> SweepResult:
    """The trials as Kaggle kernels, ``--kernels`` of them in flight (:mod:`cornkit.sweeps.kernel_trials`)."""
    from ..kaggle.client import connect
    from ..kaggle.fanout import poll_interval
    from ..sweeps.kernel_trials import KernelPlan, KernelSweep, check_kernel_options

    options = sweep.options
    assert options.kernels is not None
    check_kernel_options(options.workers, options.accelerator)
    plan = KernelPlan(
        user=kaggle_user(args),
        folder=options.kernels_dir,
        in_flight=options.kernels,
        max_running=options.max_running,
        interval_s=poll_interval(),
        accelerator=options.accelerator,
    )
    return KernelSweep(sweep, plan, connect()).run()


def _show(args: argparse.Namespace) -> None:
    from tabulate import tabulate

    from ..sweeps.show import study_dir, trials_table, write_study_files
    from ..sweeps.storage import embedded_url
    from ..sweeps.study import load_study

    study = load_study(args.study, args.storage or embedded_url(args.work))
    table = trials_table(study)
    print(tabulate(table, headers="keys", showindex=False, floatfmt=".4g", missingval="-"))
    for path in write_study_files(study, args.work):
        log.info("wrote %s", path)
    print(study_dir(args.work, args.study))


def _add_head_action(actions: argparse._SubParsersAction, head: Head) -> None:
    parser = actions.add_parser(head.name, help=f"sweep {head.name}'s parameters with Optuna (trials are Runs)", description=head.help)
    add_data_args(parser)
    params.add_arguments(parser.add_argument_group("the sweep"), SweepParams)
    own = parser.add_argument_group(f"{head.name}'s parameters (a flag fixes its parameter; the rest are swept or keep their defaults)")
    params.add_arguments(own, head.params, skip=tuple(_sweep_flags()), only_given=True)
    parser.set_defaults(handler=lambda args: _run_sweep(head, args))


def register(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser("sweep", help="Optuna sweeps whose trials are Runs: sweep HEAD --trials N, sweep show STUDY")
    actions = sweep.add_subparsers(dest="sweep_command", required=True, metavar="HEAD|show")
    for head in all_heads().values():
        if head.name == SHOW:
            log.warning("head %r (%s) has the name of `cornkit sweep show`: it cannot be swept; rename it.", head.name, head.origin)
            continue
        _add_head_action(actions, head)
    show = actions.add_parser(SHOW, help="a study's trials table, with Optuna's history and importance plots under WORK/sweeps/STUDY/")
    show.add_argument("study", help="study name (the sweep prints it)")
    show.add_argument("--storage", help="Optuna storage URL (default: WORK/sweeps/studies.db)")
    add_work_arg(show)
    show.set_defaults(handler=_show)

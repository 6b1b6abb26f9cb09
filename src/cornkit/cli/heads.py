"""One subcommand per registered head (:mod:`cornkit.heads.registry`), its flags derived from the head's parameters.

Every head gets ``--data``, ``--classes`` and ``--work``, then one flag per field of its
parameter class (:func:`cornkit.params.add_arguments`: the same declarations, defaults and checks
as ``run_head``), and ``--gpus``/``--processes`` when its work splits over processes. The handler
loads the data and the saved split, lets the head make its Run, and prints its validation
accuracy and, last, its run id.
"""

from __future__ import annotations

import argparse

from .. import params
from ..heads.registry import Head, HeadContext, all_heads
from .common import add_data_args, dataset_from_args
from .launch import add_launch_args


def run_head(head: Head, args: argparse.Namespace) -> None:
    """Make ``head``'s Run from parsed flags and print what it did, the run id last."""
    from ..data.split import load_split

    dataset = dataset_from_args(args)
    context = HeadContext(dataset=dataset, split=load_split(args.work, dataset), work=args.work, params=params.from_namespace(head.params, args))
    run = head.run(context)
    if head.describe is not None:
        print(head.describe(run))
    print(f"{run.approach} Run ({run.model}): {run.validation_score()} on {run.metrics['n_val']} rows")
    print(run.run_id)


def add_head_parser(subparsers: argparse._SubParsersAction, head: Head) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(head.name, help=head.help, description=head.help)
    add_data_args(parser)
    params.add_arguments(parser, head.params)
    if head.launchable:
        work = "feature extraction" if head.inputs == "features" else "data-parallel training (DDP; --batch-size is per process)"
        add_launch_args(parser, work)
    parser.set_defaults(handler=lambda args: run_head(head, args))
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    for head in all_heads().values():
        add_head_parser(subparsers, head)

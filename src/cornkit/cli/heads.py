"""One subcommand per registered head (:mod:`cornkit.heads.registry`), all built the same way.

Every head gets ``--data``, ``--classes``, ``--work`` and ``--seed``; heads on CLIP features
also get the CLIP and prompt flags. The head's own flags are remembered (``head_flags``) so
that their values go into the Run's config. The handler loads the data and the saved split, lets the head make
its Run, and prints its validation accuracy and, last, its run id.
"""

from __future__ import annotations

import argparse

from ..heads.registry import Head, HeadContext, all_heads
from .clip import add_clip_args, add_prompt_args
from .common import add_data_args, add_seed_arg, dataset_from_args


def run_head(head: Head, args: argparse.Namespace) -> None:
    """Make ``head``'s Run from parsed flags and print what it did, the run id last."""
    from ..data.split import load_split

    dataset = dataset_from_args(args)
    run = head.run(HeadContext(dataset=dataset, split=load_split(args.work, dataset), work=args.work, args=args))
    if head.describe is not None:
        print(head.describe(run))
    print(f"{run.approach} Run ({run.model}): validation accuracy {run.metrics['val_accuracy']:.4f} on {run.metrics['n_val']} rows")
    print(run.run_id)


def add_head_parser(subparsers: argparse._SubParsersAction, head: Head) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(head.name, help=head.help, description=head.help)
    add_data_args(parser)
    add_seed_arg(parser)
    if head.inputs == "features":
        add_clip_args(parser)
        add_prompt_args(parser)
    shared = {action.dest for action in parser._actions}
    head.add_arguments(parser)
    own = tuple(action.dest for action in parser._actions if action.dest not in shared)
    parser.set_defaults(handler=lambda args: run_head(head, args), head_flags=own)
    return parser


def takes_gpus(head: Head) -> bool:
    """Whether the head's command runs on several GPUs (``--gpus``): heads on CLIP features and fine-tunes do, a plugin may not."""
    parser = add_head_parser(argparse.ArgumentParser(add_help=False).add_subparsers(), head)
    return "--gpus" in parser._option_string_actions


def register(subparsers: argparse._SubParsersAction) -> None:
    for head in all_heads().values():
        add_head_parser(subparsers, head)

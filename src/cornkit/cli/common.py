"""Flags shared by several commands, declared once so they mean the same everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.submission_format import SUBMISSION_KINDS
from ..defaults import DEFAULT_SEED
from .argtypes import seed

if TYPE_CHECKING:
    from ..data.dataset import Dataset


def add_work_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=Path("work"), help="work folder for the split, feature cache and Runs (default: ./work)")


def add_data_args(parser: argparse.ArgumentParser, *, work: bool = True, required: bool = True) -> None:
    """``--data`` (the competition folder), ``--classes`` and ``--work`` (where splits, features and Runs go)."""
    parser.add_argument("--data", type=Path, required=required, help="competition folder holding train.csv, test.csv, sample_submission.csv")
    parser.add_argument("--classes", help="comma-separated class order (default: sorted labels of train.csv)")
    parser.add_argument(
        "--submission-format",
        choices=SUBMISSION_KINDS,
        help="what submission.csv holds beside the id: a class, one probability column per class, or the positive class's "
        "probability (default: what sample_submission.csv shows)",
    )
    if work:
        add_work_arg(parser)


def add_seed_arg(parser: argparse.ArgumentParser, what: str = "everything random") -> None:
    parser.add_argument("--seed", type=seed, default=DEFAULT_SEED, help=f"seed of {what} (default {DEFAULT_SEED})")


def add_submissions_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--submissions", type=Path, default=Path("submissions"), help="folder of submission CSVs and ledger.csv (default: ./submissions)")


def dataset_from_args(args: argparse.Namespace, *, check_images: bool = True) -> Dataset:
    """Load and check ``--data`` with the ``--classes`` order and the ``--submission-format``, if given."""
    from ..data.dataset import DataConfig, load_dataset

    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    config = DataConfig(classes=classes, submission_format=args.submission_format)
    return load_dataset(args.data, config, check_images=check_images)

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


LAYOUT_FLAGS = {
    "id_column": "the id column (default: the column sample_submission.csv shares with test.csv, else its first)",
    "label_column": "the training rows' label column (default: 'label', else the one column besides id and image; one-hot columns are found too)",
    "image_column": "the column naming each row's image file (default: 'image' when present, else the id names the file)",
    "train_csv": "the CSV listing the training rows (default: train.csv, else the one other labelled CSV, else one folder per class)",
    "train_images": "folder of the training images, relative to --data (default: found: train/, train_images/, images/, ...)",
    "test_images": "folder of the test images, relative to --data (default: found: test/, test_images/, images/, ...)",
}
"""The overrides of what :mod:`cornkit.data.layout` finds; ``cornkit split`` records the ones given."""


def add_data_args(parser: argparse.ArgumentParser, *, work: bool = True, required: bool = True) -> None:
    """``--data`` (the competition folder), how to read it, and ``--work`` (where splits, features and Runs go)."""
    parser.add_argument("--data", type=Path, required=required, help="competition folder holding sample_submission.csv and the training and test rows")
    parser.add_argument("--classes", help="comma-separated class order (default: sorted training labels)")
    for name, help_text in LAYOUT_FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="DIR" if name.endswith("images") else "NAME", help=help_text)
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


def dataset_from_args(args: argparse.Namespace, *, check_images: bool = True, recorded: bool = True) -> Dataset:
    """Load and check ``--data`` as the flags say, and, for what they leave open, as ``cornkit split`` was told (``recorded``)."""
    from ..data.dataset import DataConfig, load_dataset
    from ..data.split import recorded_data_config

    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    given = {name: getattr(args, name) for name in LAYOUT_FLAGS} | {"classes": classes, "submission_format": args.submission_format}
    saved = recorded_data_config(args.work) if recorded and getattr(args, "work", None) is not None else {}
    config = DataConfig.from_given(saved | {k: v for k, v in given.items() if v is not None})
    return load_dataset(args.data, config, check_images=check_images)

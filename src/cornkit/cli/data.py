"""Commands on the competition data before any model: synth, roboflow, data, split, and the demo of the whole loop."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.synth_layouts import LAYOUTS
from ..metric_names import DEFAULT_METRIC, METRIC_NAMES
from . import argtypes
from .common import add_data_args, add_seed_arg, dataset_from_args


def _synth(args: argparse.Namespace) -> None:
    from ..data.synth import make_synthetic_corn

    summary = make_synthetic_corn(args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed, layout=args.layout)
    print(f"synthetic corn set ({args.layout}): {summary.n_train} train and {summary.n_test} test images, test labels in solution.csv")
    print(summary.root)


def _roboflow(args: argparse.Namespace) -> None:
    from ..data.roboflow import import_roboflow

    imported = import_roboflow(args.src, test_frac=args.test_frac, seed=args.seed)
    print(f"{len(imported.classes)} classes {list(imported.classes)}: {imported.n_train} train and {imported.n_test} test rows")
    if imported.tokenization:
        print(f"captions: use --prompts {imported.tokenization}")
    print(imported.root)


def _data(args: argparse.Namespace) -> None:
    from ..data.summary import findings

    for line in findings(dataset_from_args(args)):
        print(line)


def _split(args: argparse.Namespace) -> None:
    from ..data.competition_record import competition_metric
    from ..data.split import make_split

    dataset = dataset_from_args(args, check_images=False, recorded=False)
    metric = args.metric
    if metric is None:
        found = competition_metric(dataset.root, dataset.classes)
        metric = found[0] if found else DEFAULT_METRIC
        if found:
            print(f"metric: {metric} (the competition's evaluation metric {found[1]!r}, recorded by cornkit download)")
    split = make_split(dataset, args.work, valid_frac=args.valid_frac, folds=args.folds, seed=args.seed, metric=metric, force=args.force)
    counts = split.frame["fold"].value_counts().sort_index()
    print(f"{split.params['kind']} split {split.split_id}: " + ", ".join(f"fold {k}: {n} rows" for k, n in counts.items()))
    print(args.work / "split.csv")


def _demo(args: argparse.Namespace) -> None:
    from ..demo import run_demo

    result = run_demo(args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    print(result.summary_path)


def add_synthetic_set_args(parser: argparse.ArgumentParser) -> None:
    """The size and seed of a synthetic corn set (``synth`` and ``demo`` draw the same one)."""
    parser.add_argument("--n-train", type=argtypes.positive_int, default=800, help="training images (default 800)")
    parser.add_argument("--n-test", type=argtypes.positive_int, default=200, help="test images (default 200)")
    add_seed_arg(parser, "the drawing (same seed, same bytes)")


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the whole loop on a synthetic set, offline, in minutes on a CPU")
    demo.add_argument("--out", type=Path, default=Path("demo"), help="folder for the demo's data, work and submissions (default: ./demo)")
    add_synthetic_set_args(demo)
    demo.set_defaults(handler=_demo)

    synth = subparsers.add_parser("synth", help="write a synthetic corn set in the competition layout")
    synth.add_argument("--out", type=Path, required=True, help="folder to create")
    synth.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="corn",
        help="how the set is filed and submitted: corn (It's Corn), probabilities (one column per class), binary (labels 0/1, the probability "
        "of 1), cassava (image_id file names, integer labels, no test.csv), dogbreed (labels.csv, hex ids), folders (a folder per class)",
    )
    add_synthetic_set_args(synth)
    synth.set_defaults(handler=_synth)

    roboflow = subparsers.add_parser("roboflow", help="write competition CSVs for a Roboflow 'OpenAI CLIP Classification' export")
    roboflow.add_argument("--src", type=Path, required=True, help="the unzipped export (folders test/<class>/..., _tokenization.txt)")
    roboflow.add_argument("--test-frac", type=argtypes.fraction, default=0.2, help="stratified share of the images held out as the test part")
    add_seed_arg(roboflow, "the train/test draw")
    roboflow.set_defaults(handler=_roboflow)

    data = subparsers.add_parser(
        "data", help="say what was read from a competition folder (as --work's split was told to read it): rows, ids, images, classes, submission"
    )
    add_data_args(data)
    data.set_defaults(handler=_data)

    split = subparsers.add_parser("split", help="make the stratified validation split every approach uses")
    add_data_args(split)
    split.add_argument("--valid-frac", type=argtypes.fraction, default=0.2, help="holdout fraction (default 0.2)")
    split.add_argument("--folds", type=argtypes.int_at_least(2), help="k folds instead of a holdout")
    add_seed_arg(split, "the split")
    split.add_argument(
        "--metric",
        help="the competition's metric, recorded with the split: Runs report val_<metric>, heads choose by it "
        f"({', '.join(METRIC_NAMES)}; default: the evaluation metric `cornkit download` recorded, else {DEFAULT_METRIC})",
    )
    split.add_argument("--force", action="store_true", help="replace a different saved split")
    split.set_defaults(handler=_split)

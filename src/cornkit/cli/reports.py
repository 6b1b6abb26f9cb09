"""Reports that make no Run: ``shots`` (few-shot curve) and ``dupes`` (near-duplicates) under ``WORK/reports/``; ``report``, the page of every Run."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from .. import params
from ..clip.params import ClipParams
from ..defaults import DUPES_THRESHOLD, PUBLIC_LB_FRACTION, SHOTS, SHOTS_REPEATS
from ..heads.on_features import FeatureHeadParams
from .argtypes import float_in, positive_int
from .clip import add_clip_args
from .common import add_data_args, add_seed_arg, add_submissions_arg, add_work_arg, dataset_from_args
from .launch import add_launch_args

ALL_SHOTS = "all"


def shot_counts(text: str) -> tuple[int | str, ...]:
    """Comma-separated labels per class, each a whole number >= 1 or ``all``, e.g. ``1,2,4,8,16,all``."""
    return tuple(ALL_SHOTS if part.strip() == ALL_SHOTS else positive_int(part.strip()) for part in text.split(","))


def head_flags(text: str) -> tuple[str, str]:
    """``HEAD=FLAGS``, e.g. ``probe=--cv-folds 2``."""
    name, sep, flags = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: give HEAD=FLAGS, e.g. 'probe=--cv-folds 2'")
    return name.strip(), flags


def head_params(flags: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """``--head-flags probe='--cv-folds 2'`` as each head's own parameters, checked by its declaration."""
    from ..heads.registry import get_head

    return {name: params.parse_argv(get_head(name).params, shlex.split(text), prog=f"--head-flags {name}") for name, text in flags}


def _shots(args: argparse.Namespace) -> None:
    from ..data.split import load_split
    from ..reports.shots import shots_report

    dataset = dataset_from_args(args)
    shared = params.from_namespace(FeatureHeadParams, args)
    split = load_split(args.work, dataset)
    if split.n_folds > 1:
        print(f"{split.n_folds}-fold split: the curve is scored on fold 0's {len(split.valid_ids(0))} validation rows.")
    report = shots_report(
        dataset,
        split,
        args.work,
        shared.clip_spec(),
        heads=[h.strip() for h in args.heads.split(",")] if args.heads else None,
        shots=args.shots,
        repeats=args.repeats,
        seed=shared.seed,
        head_params=head_params(args.head_flags or []),
        prompts=shared.prompts,
        prompt_set=shared.prompt_set,
        **{"device": shared.device, "batch_size": shared.batch_size, "workers": shared.workers},
    )
    summary = report.table.groupby(["head", "shots"], sort=False)["val_accuracy"].agg(["mean", "std", "count"]).round(4)
    print(summary.to_string())
    for reason in report.skipped:
        print(f"skipped: {reason}")
    print(report.answer)
    print(report.folder)


def _dupes(args: argparse.Namespace) -> None:
    from ..clip.features import extract_features
    from ..reports.dupes import dupes_report

    dataset = dataset_from_args(args)
    clip = params.from_namespace(ClipParams, args)
    features = extract_features(dataset, args.work, clip.clip_spec(), image_store=clip.image_store, **clip.extraction_options())
    report = dupes_report(dataset, features, args.work, args.threshold)
    if len(report.pairs):
        print(report.pairs.head(10).to_string(index=False))
    print(report.summary())
    print(f"pairs: {report.csv_path}; contact sheet: {report.png_path}")
    print(report.folder)


def _report(args: argparse.Namespace) -> None:
    from ..kaggle.leaderboard import submitted_scores
    from ..reports.page import metric_header, write_report

    page = write_report(args.work, args.out, scores=submitted_scores(args.submissions), public_frac=args.public_frac, seed=args.seed)
    metric = metric_header(page.table)
    if metric["metric_leads"]:
        best = page.table.iloc[0]
        low, high = best["metric_interval"]
        print(
            f"by {metric['metric_header']} ({metric['metric_better']} is better): best {best['run_id']} "
            f"{best['val_metric']:.4f} [{low:.4f}, {high:.4f}]; vs best by {metric['metric_test']}"
        )
    print(f"{len(page.table)} Run(s) and submission(s); images in {page.files}")
    print(page.path)


def register(subparsers: argparse._SubParsersAction) -> None:
    shots = subparsers.add_parser(
        "shots", help="few-shot curve: validation accuracy of each head on k labelled images per class (how many labels beat zero-shot?)"
    )
    add_data_args(shots)
    params.add_arguments(shots, FeatureHeadParams)
    add_launch_args(shots, "feature extraction")
    shots.add_argument("--shots", type=shot_counts, default=shot_counts(SHOTS), help=f"labelled training images per class to try (default {SHOTS})")
    shots.add_argument("--repeats", type=positive_int, default=SHOTS_REPEATS, help=f"seeded draws per shot count (default {SHOTS_REPEATS})")
    shots.add_argument("--heads", help="comma-separated heads on features (default: every registered one; zero-shot is always the reference)")
    shots.add_argument(
        "--head-flags", type=head_flags, action="append", metavar="HEAD=FLAGS", help="flags for one head, e.g. 'probe=--cv-folds 2' (repeatable)"
    )
    shots.set_defaults(handler=_shots)

    dupes = subparsers.add_parser("dupes", help="near-duplicate images: test copies of training images (leak), training copies with other labels")
    add_data_args(dupes)
    add_clip_args(dupes)
    dupes.add_argument(
        "--threshold",
        type=float_in(-1.0, 1.0),
        default=DUPES_THRESHOLD,
        help=f"centred cosine similarity from which two images count as near-duplicates (default {DUPES_THRESHOLD}; exact copies score 1)",
    )
    dupes.set_defaults(handler=_dupes)

    report = subparsers.add_parser("report", help="one HTML page of every Run: scores with 95 %% intervals, paired tests, pictures, LB (opens from file://)")
    add_work_arg(report)
    add_submissions_arg(report)
    report.add_argument("--out", type=Path, help="the page to write (default: WORK/report.html; its images go to a folder beside it)")
    report.add_argument(
        "--public-frac",
        type=float_in(0.0, 1.0, low_open=True, high_open=True),
        default=PUBLIC_LB_FRACTION,
        help=f"share of the test rows the public LB scores, for its interval (default {PUBLIC_LB_FRACTION}: an assumption; see the competition's LB page)",
    )
    add_seed_arg(report, "the balanced-accuracy bootstrap")
    report.set_defaults(handler=_report)

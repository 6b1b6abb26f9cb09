"""Commands that do not care which head made a Run: synth, split, runs, score, submit."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import CornkitError
from ..options import COMPETITION
from .common import add_data_args, add_submissions_arg, dataset_from_args


def _synth(args: argparse.Namespace) -> None:
    from ..synth import make_synthetic_corn

    summary = make_synthetic_corn(args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    print(f"synthetic corn set: {summary.n_train} train and {summary.n_test} test images, test labels in solution.csv")
    print(summary.root)


def _roboflow(args: argparse.Namespace) -> None:
    from ..roboflow import import_roboflow

    imported = import_roboflow(args.src, test_frac=args.test_frac, seed=args.seed)
    print(f"{len(imported.classes)} classes {list(imported.classes)}: {imported.n_train} train and {imported.n_test} test rows")
    if imported.tokenization:
        print(f"captions: use --prompts {imported.tokenization}")
    print(imported.root)


def _split(args: argparse.Namespace) -> None:
    from ..split import make_split

    dataset = dataset_from_args(args, check_images=False)
    split = make_split(dataset, args.work, valid_frac=args.valid_frac, folds=args.folds, seed=args.seed, force=args.force)
    counts = split.frame["fold"].value_counts().sort_index()
    print(f"{split.params['kind']} split {split.split_id}: " + ", ".join(f"fold {k}: {n} rows" for k, n in counts.items()))
    print(args.work / "split.csv")


def _runs(args: argparse.Namespace) -> None:
    from ..runs import list_runs

    runs = list_runs(args.work)
    for run in runs:
        print(f"{run.run_id:60s} {run.approach:10s} val_accuracy {run.metrics.get('val_accuracy', float('nan')):.4f}")
    print(f"{len(runs)} Run(s) in {args.work / 'runs'}")


def _score(args: argparse.Namespace) -> None:
    from ..runs import load_run
    from ..scoring import score_run

    run = load_run(args.run, args.work)
    report = score_run(run, dataset_from_args(args), max_images=args.max_images)
    print(report.text)
    print(f"confusion matrix: {report.confusion_path}")
    print(f"misclassified images: {report.misclassified_path}")
    print(run.path)


def _submit(args: argparse.Namespace) -> None:
    from ..runs import load_run
    from ..submission import write_submission

    if args.kaggle:
        _submit_kaggle(args)
        return
    run = load_run(args.run, args.work)
    submission = write_submission(run, dataset_from_args(args, check_images=False), args.submissions)
    print(f"submission of {run.run_id} (validation accuracy {run.metrics['val_accuracy']:.4f}) {submission.state()}")
    print(submission.path)


def _demo(args: argparse.Namespace) -> None:
    from ..demo import run_demo

    result = run_demo(args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    print(result.summary_path)


def _submit_kaggle(args: argparse.Namespace) -> None:
    from ..kaggle_submit import submit_to_kaggle

    if args.message is None:
        raise CornkitError("--kaggle needs -m MESSAGE: say what this submission is (the run id is added to it).")
    dataset = dataset_from_args(args, check_images=False)
    sent = submit_to_kaggle(args.run, args.message, work=args.work, dataset=dataset, submissions=args.submissions, competition=args.competition)
    print(f"submitted {sent.path.name} to {args.competition} as {sent.description!r} (Kaggle ref {sent.ref}): {sent.message}")
    print(sent.path)


def add_synthetic_set_args(parser: argparse.ArgumentParser) -> None:
    """The size and seed of a synthetic corn set (``synth`` and ``demo`` draw the same one)."""
    parser.add_argument("--n-train", type=int, default=800, help="training images (default 800)")
    parser.add_argument("--n-test", type=int, default=200, help="test images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the whole loop on a synthetic set, offline, in minutes on a CPU")
    demo.add_argument("--out", type=Path, default=Path("demo"), help="folder for the demo's data, work and submissions (default: ./demo)")
    add_synthetic_set_args(demo)
    demo.set_defaults(handler=_demo)

    synth = subparsers.add_parser("synth", help="write a synthetic corn set in the competition layout")
    synth.add_argument("--out", type=Path, required=True, help="folder to create")
    add_synthetic_set_args(synth)
    synth.set_defaults(handler=_synth)

    roboflow = subparsers.add_parser("roboflow", help="write competition CSVs for a Roboflow 'OpenAI CLIP Classification' export")
    roboflow.add_argument("--src", type=Path, required=True, help="the unzipped export (folders test/<class>/..., _tokenization.txt)")
    roboflow.add_argument("--test-frac", type=float, default=0.2, help="stratified share of the images held out as the test part")
    roboflow.add_argument("--seed", type=int, default=0)
    roboflow.set_defaults(handler=_roboflow)

    split = subparsers.add_parser("split", help="make the stratified validation split every approach uses")
    add_data_args(split)
    split.add_argument("--valid-frac", type=float, default=0.2, help="holdout fraction (default 0.2)")
    split.add_argument("--folds", type=int, help="k folds instead of a holdout")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--force", action="store_true", help="replace a different saved split")
    split.set_defaults(handler=_split)

    runs = subparsers.add_parser("runs", help="list the Runs in the work folder")
    runs.add_argument("--work", type=Path, default=Path("work"))
    runs.set_defaults(handler=_runs)

    score = subparsers.add_parser("score", help="score a Run on the validation split (report, confusion matrix, misclassified images)")
    score.add_argument("run", help="run id (or a unique prefix) or Run folder")
    add_data_args(score)
    score.add_argument("--max-images", type=int, default=24, help="misclassified images to show")
    score.set_defaults(handler=_score)

    submit = subparsers.add_parser("submit", help="write a validated submission.csv for a Run and record it in the ledger")
    submit.add_argument("run", help="run id (or a unique prefix) or Run folder")
    add_data_args(submit)
    add_submissions_arg(submit)
    submit.add_argument("--kaggle", action="store_true", help="also upload it to the competition with the official Kaggle client")
    submit.add_argument("-m", "--message", help="submission description for --kaggle (the run id is put in front)")
    submit.add_argument("--competition", default=COMPETITION, help=f"competition slug for --kaggle (default: {COMPETITION})")
    submit.set_defaults(handler=_submit)

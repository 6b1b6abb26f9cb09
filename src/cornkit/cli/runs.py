"""Commands that read Runs, whichever head made them: runs, score, predict, ensemble, stack."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .. import params
from ..defaults import STACK_META_MODELS
from ..errors import CornkitError
from ..heads.predict import PredictParams
from . import argtypes
from .common import add_data_args, add_seed_arg, add_work_arg, dataset_from_args

if TYPE_CHECKING:
    from ..runs.run import Run


def _runs(args: argparse.Namespace) -> None:
    from ..defaults import PUBLIC_LB_FRACTION
    from ..kaggle.kernel_output import read_origin
    from ..metric_names import DEFAULT_METRIC
    from ..reports.run_table import run_table, shared_metric
    from ..runs.competition_metric import get_metric
    from ..runs.run import list_runs

    runs = list_runs(args.work)
    metric = shared_metric(runs)
    leads = metric is not None and metric != DEFAULT_METRIC
    if leads:  # the competition's metric first, with its interval, best Run first
        assert metric is not None
        table = run_table(runs, None, PUBLIC_LB_FRACTION)
        cells = {str(r): (float(v), *map(float, i)) for r, v, i in zip(table["run_id"], table["val_metric"], table["metric_interval"], strict=True)}
        better = "higher" if get_metric(metric).greater_is_better else "lower"
        print(f"by val_{metric} ({better} is better; 95 % interval in brackets), then val_accuracy")
        position = {run_id: k for k, run_id in enumerate(cells)}
        runs = sorted(runs, key=lambda r: position[r.run_id])
    for run in runs:
        origin = read_origin(run.path) if run.path else None
        came_from = f"  from kernel {origin.get('kernel')} version {origin.get('version')}" if origin else ""
        lead = ""
        if leads:
            value, low, high = cells[run.run_id]
            lead = f"val_{metric} {value:.4f} [{low:.4f}, {high:.4f}] "
        print(f"{run.run_id:60s} {run.approach:10s} {lead}val_accuracy {run.metrics.get('val_accuracy', float('nan')):.4f}{came_from}")
    print(f"{len(runs)} Run(s) in {args.work / 'runs'}")


def _score(args: argparse.Namespace) -> None:
    from ..runs.run import load_run
    from ..runs.scoring import score_run

    run = load_run(args.run, args.work)
    report = score_run(run, dataset_from_args(args), max_images=args.max_images)
    print(report.text)
    print(f"confusion matrix: {report.confusion_path}")
    print(f"misclassified images: {report.misclassified_path}")
    print(run.path)


def _predict(args: argparse.Namespace) -> None:
    from ..hashing import config_hash
    from ..heads.predict import Images, PredictParams, predict_run
    from ..kaggle.predictions import PREDICTIONS_DIR, write_predictions
    from ..runs.run import load_run

    if (args.data is None) == (args.images is None):
        raise CornkitError("give --data DIR (a competition folder: its test set) or --images DIR (a folder of images), not both.")
    run = load_run(args.run, args.work)
    model = run.saved_model()  # a Run without a usable model is refused before any image is read
    images = Images.folder(args.images) if args.images is not None else Images.test_set(dataset_from_args(args))
    probs = predict_run(run, images, args.work, params.from_namespace(PredictParams, args), model)
    source = str(args.images.resolve()) if args.images is not None else images.dataset.fingerprint if images.dataset else ""
    out = args.out or args.work / PREDICTIONS_DIR / f"{run.run_id}-{config_hash(source)}"
    written = write_predictions(run, images, probs, out)
    print(f"{len(images.ids)} images predicted with Run {run.run_id} ({run.approach}): {written.probs_path.name}, {written.submission_path.name}")
    if written.max_difference is not None:
        print(f"the Run's own test set: largest difference from its test_probs.csv {written.max_difference:.2e}")
    print(out)


def parse_weights(text: str | None) -> list[float] | str | None:
    """``auto``, or comma-separated numbers, one per Run."""
    if text is None or text == "auto":
        return text
    try:
        return [float(w) for w in text.split(",")]
    except ValueError as error:
        raise CornkitError(f"--weights {text!r}: give 'auto' or comma-separated numbers, one per Run, e.g. 0.7,0.3.") from error


def _member_runs(args: argparse.Namespace) -> list[Run]:
    """The Runs named on the command line; with ``--data``, also checked against the split --work holds now."""
    from ..data.split import load_split
    from ..runs.members import check_current_split
    from ..runs.run import load_run

    runs = [load_run(run, args.work) for run in args.runs]
    if args.data is not None:
        check_current_split(runs, load_split(args.work, dataset_from_args(args, check_images=False)).split_id)
    return runs


def _ensemble(args: argparse.Namespace) -> None:
    from ..runs.ensemble import ensemble_runs
    from ..runs.run import save_run

    runs = _member_runs(args)
    run = ensemble_runs(runs, parse_weights(args.weights))
    save_run(run, args.work)
    for member in runs:
        print(f"  {member.run_id:60s} weight {run.metrics['weights'][member.run_id]:.3f}  {member.validation_score()}")
    if "auto_summary" in run.metrics:
        print(run.metrics["auto_summary"])
    print(f"ensemble of {len(runs)} Runs: {run.validation_score()}")
    print(run.run_id)


def _stack(args: argparse.Namespace) -> None:
    from ..runs.stack import stack_runs

    runs = _member_runs(args)
    stack = stack_runs(runs, args.meta, seed=args.seed)
    stack.save(args.work)
    for member in runs:
        print(f"  {member.run_id:60s} {member.validation_score()}")
    print(stack.report.summary())
    print(stack.run.run_id)


def register(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser("runs", help="list the Runs in the work folder")
    add_work_arg(runs)
    runs.set_defaults(handler=_runs)

    score = subparsers.add_parser("score", help="score a Run on the validation split (report, confusion matrix, misclassified images)")
    score.add_argument("run", help="run id (or a unique prefix) or Run folder")
    add_data_args(score)
    score.add_argument("--max-images", type=argtypes.non_negative_int, default=24, help="misclassified images to show")
    score.set_defaults(handler=_score)

    predict = subparsers.add_parser(
        "predict", help="predict with a saved Run's fitted model: a competition's test set (--data) or a folder of images (--images)"
    )
    predict.add_argument("run", help="run id (or a unique prefix) or Run folder")
    add_data_args(predict, required=False)
    predict.add_argument("--images", type=Path, help="a folder of images to predict instead of a competition's test set")
    predict.add_argument("--out", type=Path, help="folder for test_probs.csv and submission.csv (default: WORK/predictions/RUN-HASH)")
    params.add_arguments(predict, PredictParams)
    predict.set_defaults(handler=_predict)

    ensemble = subparsers.add_parser("ensemble", help="average Runs made on the same split into one Run")
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="run ids or Run folders")
    ensemble.add_argument("--weights", help="'auto' (searched on the validation split) or w1,w2,... (default: equal)")
    add_data_args(ensemble, required=False)
    ensemble.set_defaults(handler=_ensemble)

    stack = subparsers.add_parser("stack", help="a level-2 model on Runs' validation probabilities, cross-fitted, as one Run")
    stack.add_argument("runs", nargs="+", metavar="RUN", help="run ids or Run folders (two or more, made on the same split)")
    stack.add_argument(
        "--meta", choices=STACK_META_MODELS, default=STACK_META_MODELS[0], help="level-2 model: logistic regression (default), or gradient boosting"
    )
    add_seed_arg(stack, "the cross-fitting folds and the level-2 model")
    add_data_args(stack, required=False)
    stack.set_defaults(handler=_stack)

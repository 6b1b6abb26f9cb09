"""Submissions and Kaggle: submit, download, kernels (:mod:`.kernels`), leaderboard.

None of them imports the ``kaggle`` package until it is about to be used, so every other
command stays quiet and offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..defaults import COMPETITION, KAGGLE_INPUT
from ..errors import CornkitError
from . import kernels
from .common import add_data_args, add_submissions_arg, dataset_from_args


def _add_competition_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", default=COMPETITION, help=f"competition slug (default: {COMPETITION})")


def _submit(args: argparse.Namespace) -> None:
    from ..kaggle.submission import write_submission
    from ..runs.run import load_run

    if args.kaggle:
        _submit_kaggle(args)
        return
    run = load_run(args.run, args.work)
    submission = write_submission(run, dataset_from_args(args, check_images=False), args.submissions)
    print(f"submission of {run.run_id} ({run.validation_score()}) {submission.state()}")
    print(submission.path)


def _submit_kaggle(args: argparse.Namespace) -> None:
    from ..kaggle.submit import submit_to_kaggle

    if args.message is None:
        raise CornkitError("--kaggle needs -m MESSAGE: say what this submission is (the run id is added to it).")
    dataset = dataset_from_args(args, check_images=False)
    sent = submit_to_kaggle(args.run, args.message, work=args.work, dataset=dataset, submissions=args.submissions, competition=args.competition)
    print(f"submitted {sent.path.name} to {args.competition} as {sent.description!r} (Kaggle ref {sent.ref}): {sent.message}")
    print(sent.path)


def _download(args: argparse.Namespace) -> None:
    from ..kaggle.download import download_competition

    result = download_competition(args.data, args.competition, input_root=args.input_root)
    said = {
        "mounted": "inside a Kaggle kernel: using the mounted competition data, nothing downloaded",
        "present": "the competition files are already there, nothing downloaded",
        "downloaded": f"downloaded and unzipped the files of {args.competition}",
    }
    print(said[result.action])
    print(result.root)


def _leaderboard(args: argparse.Namespace) -> None:
    from ..kaggle.leaderboard import build_leaderboard, markdown_table

    board = build_leaderboard(args.submissions, args.competition, work=args.work, offline=args.offline)
    print(markdown_table(board.table), end="")
    if board.table.empty:
        print(f"no submissions yet in {args.submissions} (make one with `cornkit submit RUN`)")
    if board.offline_reason:
        print(f"public and private LB are empty: {board.offline_reason}")
    print(f"chart: {board.png_path}")
    print(f"markdown: {board.markdown_path}")
    print(board.csv_path)


def register(subparsers: argparse._SubParsersAction) -> None:
    submit = subparsers.add_parser("submit", help="write a validated submission.csv for a Run and record it in the ledger")
    submit.add_argument("run", help="run id (or a unique prefix) or Run folder")
    add_data_args(submit)
    add_submissions_arg(submit)
    submit.add_argument("--kaggle", action="store_true", help="also upload it to the competition with the official Kaggle client")
    submit.add_argument("-m", "--message", help="submission description for --kaggle (the run id is put in front)")
    submit.add_argument("--competition", default=COMPETITION, help=f"competition slug for --kaggle (default: {COMPETITION})")
    submit.set_defaults(handler=_submit)

    download = subparsers.add_parser("download", help="download and unzip the competition files (once; inside a kernel, use the mounted data)")
    download.add_argument("--data", type=Path, required=True, help="folder to unzip into (a second call finds the files and does nothing)")
    _add_competition_arg(download)
    download.add_argument("--input-root", type=Path, default=KAGGLE_INPUT, help=f"where a Kaggle kernel mounts its inputs (default: {KAGGLE_INPUT})")
    download.set_defaults(handler=_download)

    kernel_actions = subparsers.add_parser("kernels", help="Kaggle kernels that run the kit: build, list, push, status, output")
    kernels.register(kernel_actions.add_subparsers(dest="kernels_command", required=True, metavar="ACTION"))

    leaderboard = subparsers.add_parser("leaderboard", help="local validation, public and private LB of every submission (markdown, CSV, PNG)")
    leaderboard.add_argument("--work", type=Path, help="work folder: its Runs that were never submitted get rows too (local validation only)")
    add_submissions_arg(leaderboard)
    _add_competition_arg(leaderboard)
    leaderboard.add_argument("--offline", action="store_true", help="do not ask Kaggle; local columns only")
    leaderboard.set_defaults(handler=_leaderboard)

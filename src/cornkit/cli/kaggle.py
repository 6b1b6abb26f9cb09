"""Submissions and Kaggle: submit, download, kernels build|push|status|output, leaderboard.

None of them imports the ``kaggle`` package until it is about to be used, so every other
command stays quiet and offline.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..defaults import COMPETITION, KAGGLE_INPUT
from ..errors import CornkitError
from ..heads.registry import all_heads
from . import argtypes
from .common import add_data_args, add_submissions_arg, dataset_from_args


def _add_competition_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", default=COMPETITION, help=f"competition slug (default: {COMPETITION})")


def _add_accelerator_arg(parser: argparse.ArgumentParser, where: str) -> None:
    parser.add_argument(
        "--accelerator",
        metavar="NAME",
        help=f"Kaggle accelerator, as the kaggle client's `kernels push --accelerator`: NvidiaTeslaT4 (two T4s) or NvidiaTeslaP100; {where}",
    )


def _submit(args: argparse.Namespace) -> None:
    from ..kaggle.submission import write_submission
    from ..runs.run import load_run

    if args.kaggle:
        _submit_kaggle(args)
        return
    run = load_run(args.run, args.work)
    submission = write_submission(run, dataset_from_args(args, check_images=False), args.submissions)
    print(f"submission of {run.run_id} (validation accuracy {run.metrics['val_accuracy']:.4f}) {submission.state()}")
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


def _kernels_build(args: argparse.Namespace) -> None:
    from ..kaggle.auth import find_credentials
    from ..kaggle.kernels import KernelSpec, build_kernel

    user = args.user or find_credentials().username
    if not user:
        raise CornkitError("your Kaggle username is unknown (an access token does not carry it): give --user YOUR_KAGGLE_USERNAME.")
    spec = KernelSpec(
        approach=args.approach,
        user=user,
        model=args.model,
        pretrained=args.pretrained,
        competition=args.competition,
        enable_gpu=args.gpu,
        accelerator=args.accelerator,
        enable_internet=args.internet,
        is_private=not args.public,
        dataset_sources=tuple(args.dataset_source),
        model_sources=tuple(args.model_source),
        extra_args=tuple(shlex.split(args.head_args)),
    )
    kernel = build_kernel(spec, args.kernels)
    print(f"kernel {kernel.kernel_id}: {kernel.metadata['code_file']} and kernel-metadata.json")
    print(kernel.path)


def _kernels_push(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.kernels import load_kernel, push_kernel

    kernel = load_kernel(args.approach, args.kernels)
    response = push_kernel(kernel, connect(), accelerator=args.accelerator)
    for field in ("invalid_competition_sources", "invalid_dataset_sources", "invalid_model_sources", "invalid_kernel_sources"):
        if getattr(response, field):
            print(f"warning: Kaggle did not recognise {field.removeprefix('invalid_').replace('_', ' ')}: {', '.join(getattr(response, field))}")
    print(f"pushed {kernel.kernel_id}, version {response.version_number}")
    print(response.url)


def _kernels_status(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.kernels import kernel_status, load_kernel, wait_for_kernel

    kernel = load_kernel(args.approach, args.kernels)
    session = connect()
    if args.wait is not None:
        status, failure = wait_for_kernel(kernel, session, timeout_s=args.wait, interval_s=args.interval)
    else:
        status, failure = kernel_status(kernel, session)
    print(f"{kernel.kernel_id}: {status}" + (f" ({failure})" if failure else ""))


def _kernels_output(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.kernels import fetch_kernel_output, load_kernel

    kernel = load_kernel(args.approach, args.kernels)
    submission = fetch_kernel_output(kernel, connect(), dataset_from_args(args, check_images=False), args.submissions)
    print(f"submission.csv of kernel {kernel.kernel_id} (run {submission.run_id}) {submission.state()}")
    print(submission.path)


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

    kernels = subparsers.add_parser("kernels", help="Kaggle kernels that run the kit: build, push, status, output")
    actions = kernels.add_subparsers(dest="kernels_command", required=True, metavar="ACTION")

    def add_kernel_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("approach", choices=list(all_heads()), help="which approach (registered head) the kernel runs")
        parser.add_argument("--kernels", type=Path, default=Path("kernels"), help="folder of kernel folders (default: ./kernels)")

    build = actions.add_parser("build", help="write kernels/APPROACH/ (kernel-metadata.json and the notebook)")
    add_kernel_args(build)
    build.add_argument("--user", help="your Kaggle username (default: the one in your credentials)")
    build.add_argument("--model", help="model name (open_clip model or timm arch; default: the approach's)")
    build.add_argument("--pretrained", help="open_clip tag, or a checkpoint path under /kaggle/input (default: the approach's)")
    _add_competition_arg(build)
    build.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None, help="run on a GPU (default: yes)")
    _add_accelerator_arg(build, "recorded as machine_shape in kernel-metadata.json")
    build.add_argument("--internet", action=argparse.BooleanOptionalAction, default=True, help="internet on (default: yes)")
    build.add_argument("--public", action="store_true", help="make the kernel public (default: private)")
    build.add_argument("--dataset-source", action="append", default=[], metavar="OWNER/SLUG", help="attach a dataset (wheels, weights); repeatable")
    build.add_argument(
        "--model-source", action="append", default=[], metavar="OWNER/MODEL/FRAMEWORK/VARIATION/VERSION", help="attach a Kaggle model; repeatable"
    )
    build.add_argument("--head-args", default="", help="extra flags for the head command, e.g. '--batch-size 32'")
    build.set_defaults(handler=_kernels_build)

    push = actions.add_parser("push", help="push kernels/APPROACH/ with the official client and print its URL")
    add_kernel_args(push)
    _add_accelerator_arg(push, "for this push, over kernel-metadata.json's machine_shape")
    push.set_defaults(handler=_kernels_push)

    status = actions.add_parser("status", help="the pushed kernel's run state")
    add_kernel_args(status)
    status.add_argument(
        "--wait", type=argtypes.non_negative_float, metavar="SECONDS", help="poll until the run finishes (fails if it errored or still runs after SECONDS)"
    )
    status.add_argument("--interval", type=argtypes.positive_float, default=30.0, help="seconds between polls with --wait (default: 30)")
    status.set_defaults(handler=_kernels_status)

    output = actions.add_parser("output", help="fetch the kernel's submission.csv into submissions/ with a ledger row")
    add_kernel_args(output)
    add_data_args(output, work=False)
    add_submissions_arg(output)
    output.set_defaults(handler=_kernels_output)

    leaderboard = subparsers.add_parser("leaderboard", help="local validation, public and private LB of every submission (markdown, CSV, PNG)")
    leaderboard.add_argument("--work", type=Path, help="work folder: its Runs that were never submitted get rows too (local validation only)")
    add_submissions_arg(leaderboard)
    _add_competition_arg(leaderboard)
    leaderboard.add_argument("--offline", action="store_true", help="do not ask Kaggle; local columns only")
    leaderboard.set_defaults(handler=_leaderboard)

"""The ``cornkit`` command: a thin argparse layer over the Python API.

One module per family of the package (``data``, ``clip``, ``heads``, ``runs``, ``reports``, ``kaggle``),
each with a ``register(subparsers)`` function; the ``heads`` module adds one subcommand per
registered head. A handler parses flags, calls the API and prints. Handlers import the API
they call when they run, so that ``cornkit --help`` or ``cornkit split`` does not pay seconds
for torch and open_clip. Every command prints the run id or path it wrote on its last line.
A :class:`~cornkit.errors.CornkitError` is printed as one line on stderr with exit code 2;
anything else is a bug and keeps its traceback. Ctrl-C and SIGTERM end a command with exit
code 130 and nothing half-written (:mod:`.lifecycle`); everything printed passes through the
secret redaction of :mod:`cornkit.redact`; the library's log lines reach stderr through
:func:`cornkit.logs.console`, attached for the one command. Under torchrun, or with ``--processes``, the
command runs through :mod:`cornkit.cli.launch`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CornkitError, ReportedError, user_message
from ..logs import console
from ..redact import redacted_output
from . import clip, data, heads, kaggle, reports, runs, sweeps
from .argtypes import OneLineParser
from .launch import run_command
from .lifecycle import check_path_flags, reap_command_folders, sigterm_as_interrupt, stop_worker_pools


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="cornkit", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cornkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data, clip, heads, sweeps, runs, reports, kaggle):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_argv = argv  # what started this command (`sweep --workers` starts more of the same)
    with redacted_output(), console(), sigterm_as_interrupt():
        try:
            check_path_flags(args)
            reap_command_folders(args)
            run_command(args, argv)
        except CornkitError as error:
            if not isinstance(error, ReportedError):
                print(f"cornkit {args.command}: error: {user_message(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if "RANK" not in os.environ:  # a rank of a launch was stopped by torchrun, which (or cornkit's launching process) reports it
                print(f"cornkit {args.command}: interrupted; nothing half-written was kept.", file=sys.stderr)
            return 130
        finally:
            stop_worker_pools()
    return 0

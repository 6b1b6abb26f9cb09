"""How a parsed command runs: alone, as one rank of a torchrun launch, or by launching torchrun (``--gpus``, ``--processes``).

Under torchrun (``WORLD_SIZE`` or ``TORCHELASTIC_RUN_ID`` in the environment) rank 0 runs the
command and the other ranks serve its split work (:mod:`cornkit.distributed`), so every
command works there and only rank 0 writes and prints. ``--gpus auto|N`` (one process per GPU)
and ``--processes N`` (CPU processes too) start that same launch from here, on the commands
whose work splits: CLIP feature extraction and fine-tuning. torch is imported only on those
paths, so a plain command does not pay for it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ..errors import CornkitError
from . import argtypes


def gpus(text: str) -> str:
    """``--gpus``: ``auto`` or a number of GPUs (at least 1)."""
    if text != "auto":
        argtypes.positive_int(text)
    return text


def add_launch_args(parser: argparse.ArgumentParser, work: str) -> None:
    """``--gpus`` and ``--processes``: run ``work`` in several processes launched with torchrun (one or the other)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--gpus",
        type=gpus,
        help=f"{work} on every GPU ('auto') or on N GPUs, one process each, launched with torchrun (default: one process; see README)",
    )
    group.add_argument("--processes", type=argtypes.positive_int, help=f"{work} in N processes: one per GPU, or CPU processes without GPUs")


def launched_world_size() -> int:
    """How many processes torchrun started for this command (1 when it was not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_by_torchrun() -> bool:
    """Whether torchrun started this process (also as the only process of ``--nproc-per-node 1``)."""
    return launched_world_size() > 1 or "TORCHELASTIC_RUN_ID" in os.environ


def processes_for_gpus(asked: str, device: str | None) -> int:
    """How many processes ``--gpus`` asks for on this machine: every GPU for ``auto`` (one process without any), printing which."""
    import torch

    if device is not None and not device.startswith("cuda"):
        raise CornkitError(f"--gpus {asked} with --device {device}: give one or the other (--processes N runs CPU processes).")
    names = [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    if asked != "auto" and int(asked) > len(names):
        raise CornkitError(f"--gpus {asked}: this machine has {len(names)} GPU(s){': ' + ', '.join(names) if names else ''}. Give --gpus auto.")
    chosen = names if asked == "auto" else names[: int(asked)]
    print(f"{len(chosen)} GPU(s), one process each: {', '.join(chosen)}" if chosen else "no GPU: one process on the CPU", flush=True)
    return max(1, len(chosen))


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Run ``args.handler`` here, as a rank of a launch, or in the processes ``--gpus``/``--processes`` ask for, started with ``argv``."""
    processes = getattr(args, "processes", None)
    asked_gpus = getattr(args, "gpus", None)
    if launched_by_torchrun():
        world = launched_world_size()
        flag, asked = ("--gpus", asked_gpus) if asked_gpus not in (None, "auto") else ("--processes", processes)
        if asked is not None and int(asked) != world:
            raise CornkitError(f"{flag} {asked}, but torchrun started {world} processes: give one or the other.")
        from ..distributed import run_as_rank

        run_as_rank(lambda: args.handler(args))
        return
    if asked_gpus is not None:
        processes = processes_for_gpus(asked_gpus, getattr(args, "device", None))
    if processes is not None and processes > 1:
        from ..distributed import launch

        launch(processes, argv)
    else:
        args.handler(args)

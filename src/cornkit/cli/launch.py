"""How a parsed command runs: alone, as one rank of a torchrun launch, or by launching torchrun (``--processes N``).

Under torchrun (``WORLD_SIZE`` in the environment) rank 0 runs the command and the other ranks
serve its split work (:mod:`cornkit.distributed`), so every command works there and only rank
0 writes and prints. ``--processes N`` (the CLIP commands) starts that same launch from here.
torch is imported only on those two paths, so a plain command does not pay for it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ..errors import CornkitError


def launched_world_size() -> int:
    """How many processes torchrun started for this command (1 when it was not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Run ``args.handler`` here, as a rank of a launch, or in ``--processes`` processes started with ``argv``."""
    processes = getattr(args, "processes", None)
    world = launched_world_size()
    if world > 1:
        if processes not in (None, world):
            raise CornkitError(f"--processes {processes}, but torchrun started {world} processes: give one or the other.")
        from ..distributed import run_as_rank

        run_as_rank(lambda: args.handler(args))
    elif processes is not None and processes > 1:
        from ..distributed import launch

        launch(processes, argv)
    else:
        args.handler(args)

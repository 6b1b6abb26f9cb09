"""Other kernels' Runs inside a kernel: found by searching the input folder, never at one fixed path.

Kaggle mounts the output of a kernel given in ``kernel_sources`` under ``/kaggle/input``, and the
layout has changed over time: ``/kaggle/input/<slug>/`` and
``/kaggle/input/notebooks/<owner>/<slug>/`` both exist in the wild. A cornkit kernel's output
holds its Runs as ``cornkit-runs/<run-id>/``, so a source's Runs are in the ``cornkit-runs``
folder, a few levels down, whose parent is named after the source's slug. The ensemble kernel imports this module
from the kit it unpacks; it reads only JSON, so it loads nothing heavy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import CornkitError

RUNS_OUTPUT = "cornkit-runs"
"""The folder of a kernel's output that holds its Run folders (``cornkit-runs/<run-id>/``)."""
MAX_DEPTH = 4
"""How deep below the input root a kernel's output folder may sit (``notebooks/<owner>/<slug>/`` is 3)."""


def kernel_output_folders(root: Path, kernel_id: str) -> list[Path]:
    """The folders under ``root`` that hold the output of kernel ``owner/slug`` (its ``cornkit-runs`` parent), in either mount layout."""
    slug = kernel_id.split("/", 1)[1]
    patterns = ("/".join(["*"] * depth + [RUNS_OUTPUT]) for depth in range(1, MAX_DEPTH + 1))
    return [runs.parent for pattern in patterns for runs in sorted(root.glob(pattern)) if runs.is_dir() and runs.parent.name == slug]


def find_kernel_runs(root: str | Path, kernel_ids: Sequence[str]) -> list[str]:
    """The Run folders of the kernels ``kernel_ids`` (``owner/slug``) mounted under ``root``, checked to share one split.

    Each kernel must be found once, with at least one Run; anything else is one line that says
    what is missing and what to add to the notebook's inputs.
    """
    root = Path(root)
    runs: list[Path] = []
    for kernel_id in kernel_ids:
        folders = kernel_output_folders(root, kernel_id)
        if not folders:
            raise CornkitError(
                f"no output of kernel {kernel_id} under {root} (searched for <slug>/{RUNS_OUTPUT}/ up to {MAX_DEPTH} levels down): "
                "add the kernel to this notebook's inputs, and check it was built by a cornkit that copies its Run there."
            )
        if len(folders) > 1:
            raise CornkitError(f"kernel {kernel_id} is mounted more than once under {root} ({', '.join(map(str, folders))}): attach it once.")
        found = sorted(p.parent for p in (folders[0] / RUNS_OUTPUT).glob("*/config.json"))
        if not found:
            raise CornkitError(f"{folders[0] / RUNS_OUTPUT} holds no Run (no <run-id>/config.json): kernel {kernel_id} failed or is an old version.")
        runs += found
    _check_one_split(runs)
    return [str(run) for run in runs]


def _check_one_split(runs: Sequence[Path]) -> None:
    """Refuse Runs made on different splits, naming two of them and their split ids."""
    split_ids = {run: json.loads((run / "config.json").read_text()).get("split_id") for run in runs}
    first = runs[0]
    for run in runs[1:]:
        if split_ids[run] != split_ids[first]:
            raise CornkitError(
                f"Run {run.name} ({run}) was made on split {split_ids[run]}, Run {first.name} ({first}) on split {split_ids[first]}: "
                "rebuild the kernels with the same data and split settings, or leave one of them out."
            )

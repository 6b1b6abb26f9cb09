"""Other kernels' Runs inside a kernel: found by searching the input folder, never at one fixed path.

Kaggle mounts the output of a kernel given in ``kernel_sources`` under ``/kaggle/input``, and the
layout has changed over time: ``/kaggle/input/<slug>/`` and
``/kaggle/input/notebooks/<owner>/<slug>/`` both exist in the wild. A cornkit kernel's output
holds its Runs as ``cornkit-runs/<run-id>/``, so a source's Runs are in the ``cornkit-runs``
folder, a few levels down, whose parent is named after the source's slug. An ensemble or stack
kernel's output also carries its member Runs, models included, as ``cornkit-members/<run-id>/``
(beside ``cornkit-runs``, so ``kernels output`` and another ensemble see only its own Run): a
predict kernel on it has, from that one source, every Run the ensemble predicts with. The
notebooks import this module from the kit they unpack; it reads only JSON and copies folders,
so it loads nothing heavy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import CornkitError

RUNS_OUTPUT = "cornkit-runs"
"""The folder of a kernel's output that holds its Run folders (``cornkit-runs/<run-id>/``)."""
MEMBERS_OUTPUT = "cornkit-members"
"""The folder of an ensemble or stack kernel's output that holds its member Runs (``cornkit-members/<run-id>/``)."""
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


def _carried(root: Path, kernel_ids: Sequence[str]) -> dict[str, Path]:
    """The member Runs the outputs of the kernels ``kernel_ids`` carry, by run id."""
    folders = [folder for kernel_id in kernel_ids for folder in kernel_output_folders(root, kernel_id)]
    return {run.parent.name: run.parent for folder in folders for run in sorted((folder / MEMBERS_OUTPUT).glob("*/config.json"))}


def carry_members(root: str | Path, kernel_ids: Sequence[str], members: Sequence[str | Path], target: Path) -> list[str]:
    """Copy the Runs ``members`` (found in the kernels ``kernel_ids``) and the members those kernels carried into ``target/<run-id>/``.

    The combine kernel's own output then holds every Run its ensemble or stack predicts with,
    down to the head Runs of an ensemble of ensembles; the run ids copied, in order.
    """
    runs = {Path(member).name: Path(member) for member in members}
    runs.update({name: run for name, run in _carried(Path(root), kernel_ids).items() if name not in runs})
    for name, run in runs.items():
        shutil.copytree(run, target / name, dirs_exist_ok=True)
    return list(runs)


def link_members(root: str | Path, kernel_ids: Sequence[str], run: str | Path, runs_dir: Path) -> list[str]:
    """Link the member Runs that ``run`` predicts with (and theirs) from the kernels' outputs into ``runs_dir/<run-id>``.

    ``cornkit predict`` of an ensemble or stack loads its members by run id from ``WORK/runs/``.
    Links, not copies: fine-tuned models are large, ``/kaggle/working`` is the kernel's saved
    output, and predicting only reads a Run. A member the outputs do not carry is one line naming it.
    """
    carried = _carried(Path(root), kernel_ids)
    needed = _member_ids(Path(run), carried, kernel_ids)
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in needed:
        link = runs_dir / name
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise CornkitError(f"{link} already exists and is not a member Run from this notebook's inputs: move it away, then run the notebook again.")
        link.symlink_to(carried[name].resolve(), target_is_directory=True)
    return needed


def _member_ids(run: Path, carried: dict[str, Path], kernel_ids: Sequence[str]) -> list[str]:
    """The run ids of the members of ``run`` (an ensemble's or stack's ``members`` in ``config.json``), theirs after them; none for a head's Run."""
    needed: list[str] = []
    for name in json.loads((run / "config.json").read_text()).get("members", []):
        if name not in carried:
            raise CornkitError(
                f"Run {run.name} predicts with member Run {name}, which is not in the {MEMBERS_OUTPUT}/ of kernel(s) {', '.join(kernel_ids)}: "
                "rebuild and push that ensemble or stack kernel with this cornkit (it carries its members), then run this notebook again."
            )
        needed += [name, *_member_ids(carried[name], carried, kernel_ids)]
    return list(dict.fromkeys(needed))

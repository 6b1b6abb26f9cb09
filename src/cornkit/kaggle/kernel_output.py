"""A kernel's Runs brought back into ``WORK/runs/``, checked, with where they came from.

The kernel notebook leaves its Run folder in its output as ``cornkit-runs/<run-id>/`` and, in
``cornkit-run.json``, the split it was made on (with the data fingerprint). Here one version of
the kernel's output is downloaded with the official client (only those files: the exported
model too only when asked, the client's ``file_pattern``) into a fresh scratch folder, since the
client keeps a same-sized older file in place. Every Run in it is checked before any is
written: it reads as a Run (``load_run``: complete, probabilities finite and summing to 1), its
split id is the local split's (``WORK/split.json``), and the kernel's data fingerprint is that
of ``--data``; anything else is refused in one line naming both ids, and nothing is written.

A Run is swapped into ``WORK/runs/<run-id>/`` whole (:func:`cornkit.atomic.atomic_dir`) with an
``origin.json`` beside its files (kernel id and version; not in ``config.json``, so its run id
stays the one the kernel printed). It is never overwritten: when ``<run-id>`` is taken by another
version of the kernel (or a local Run), this version goes to ``<run-id>-v<version>`` and the line
says which is which; fetching the same version again changes nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir, scratch_dir, write_json
from ..data.dataset import Dataset
from ..data.split import Split, load_split
from ..errors import CornkitError
from ..runs.run import RUNS_DIR, Run, load_run
from .client import KaggleSession, kaggle_call
from .inputs import RUNS_OUTPUT
from .kernel_record import now_utc
from .kernels import KernelFolder
from .notebook import RUN_SUMMARY

ORIGIN_FILE = "origin.json"
MODEL_SUFFIXES = (".pkl", ".joblib", ".pt", ".pth", ".safetensors", ".bin", ".ckpt")
"""Files of a Run folder that hold a fitted model (fastai's exported learner, a probe): downloaded only with ``--with-model``."""


def output_pattern(with_model: bool) -> str:
    """The client's ``file_pattern``: the Run summary and the Run folders, without the model files unless ``with_model``."""
    runs = rf"{re.escape(RUNS_OUTPUT)}/[^/]+/"
    files = ".+" if with_model else rf"(?!.*({'|'.join(map(re.escape, MODEL_SUFFIXES))})$).+"
    return rf"^({re.escape(RUN_SUMMARY)}|{runs}{files})$"


def read_origin(folder: Path) -> dict[str, Any] | None:
    """A Run folder's ``origin.json`` (kernel and version it came from), or None for a Run made here."""
    path = folder / ORIGIN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass(frozen=True)
class Imported:
    """One Run brought back: where it now is, what the user should be told, and the kernel's ``cornkit-run.json``."""

    run_id: str
    line: str
    summary: dict[str, Any] = field(default_factory=dict)


def import_kernel_runs(
    kernel: KernelFolder, session: KaggleSession, dataset: Dataset, work: str | Path, *, version: int | None = None, with_model: bool = False
) -> list[Imported]:
    """Download version ``version`` (default: the last pushed) of ``kernel``'s output and import its Runs into ``WORK/runs/``."""
    version = version or kernel.record().version
    if version is None:
        raise CornkitError(f"kernel {kernel.name} has no recorded push: push it with `cornkit kernels push {kernel.name}`, or give --version N.")
    source = f"kernel {kernel.kernel_id} version {version}"
    split = load_split(work, dataset)
    with scratch_dir(work, ".scratch-kernel-output-") as tmp:
        kaggle_call(
            session,
            f"fetch the output of {source}",
            session.api.kernels_output,
            f"{kernel.kernel_id}/{version}",
            tmp,
            file_pattern=output_pattern(with_model),
            force=True,
            quiet=True,
            not_found=f"Check `cornkit kernels status {kernel.name}`: the version may not exist, or not have finished.",
        )
        output = Path(tmp)
        folders = sorted(p.parent for p in (output / RUNS_OUTPUT).glob("*/config.json"))
        if not folders:
            raise CornkitError(
                f"{source} has no Run in its output ({RUNS_OUTPUT}/<run-id>/): it failed, has not finished, or was built by an older cornkit; "
                f"check `cornkit kernels status {kernel.name}`, rebuild and push it. Nothing was imported."
            )
        summary = _summary(output, source)
        runs = [_checked(folder, source, summary, split, dataset) for folder in folders]
        origin = {"kernel": kernel.kernel_id, "name": kernel.name, "version": version, "fetched_at": now_utc(), "split": summary["split"]}
        return [replace(_place(run, Path(work) / RUNS_DIR, kernel.name, source, origin), summary=summary) for run in runs]


def _summary(output: Path, source: str) -> dict[str, Any]:
    path = output / RUN_SUMMARY
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CornkitError(f"{source}: {RUN_SUMMARY} is missing or damaged ({error}); fetch it again, or rebuild and push the kernel.") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("split"), dict):
        raise CornkitError(f"{source}: {RUN_SUMMARY} does not record the split it was made on (an older cornkit built it): rebuild and push the kernel.")
    return summary


def _checked(folder: Path, source: str, summary: dict[str, Any], split: Split, dataset: Dataset) -> Run:
    """The downloaded Run, if it reads whole and belongs to the local split and data; else one line naming both ids."""
    try:
        run = load_run(folder)
    except CornkitError as error:
        raise CornkitError(f"the output of {source} is damaged: {error} Nothing was imported; fetch it again.") from None
    theirs = run.config.get("split_id")
    if theirs != split.split_id:
        raise CornkitError(
            f"{source}: Run {run.run_id} was made on split {theirs}, but the local split (split.json) is {split.split_id}: "
            "make the local split with the kernel's settings on the same data (`cornkit split`), or use the --work folder made for it. Nothing was imported."
        )
    fingerprint = summary["split"].get("data_fingerprint")
    if fingerprint != dataset.fingerprint:
        raise CornkitError(
            f"{source}: Run {run.run_id} was made from data {fingerprint}, but --data {dataset.root} is data {dataset.fingerprint} "
            "(its training or test rows differ): point --data at the competition's files. Nothing was imported."
        )
    return run


def _place(run: Run, runs_dir: Path, name: str, source: str, origin: dict[str, Any]) -> Imported:
    """Write ``run`` under its run id, or beside a Run of another origin as ``<run-id>-v<version>``; never over one."""
    assert run.path is not None
    for run_id in (run.run_id, f"{run.run_id}-v{origin['version']}"):
        target = runs_dir / run_id
        if not target.exists():
            with atomic_dir(target) as folder:
                shutil.copytree(run.path, folder, dirs_exist_ok=True)
                write_json(folder / ORIGIN_FILE, origin)
            beside = "" if run_id == run.run_id else f"; {run.run_id} is {_describe(runs_dir / run.run_id)} and stays as it was"
            return Imported(run_id, f"{name}: imported Run {run_id} from {source}{beside}")
        known = read_origin(target)
        if known is not None and (known.get("kernel"), known.get("version")) == (origin["kernel"], origin["version"]):
            return Imported(run_id, f"{name}: Run {run_id} of {source} is already in {runs_dir}; nothing changed")
    raise CornkitError(f"{runs_dir / run_id} already exists and did not come from {source}: move it away, then fetch again.")


def _describe(folder: Path) -> str:
    origin = read_origin(folder)
    return f"version {origin.get('version')} of {origin.get('kernel')}" if origin else "a Run made here"

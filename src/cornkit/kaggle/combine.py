"""Ensemble and stack kernels: one kernel that combines the Runs other kernels left in their output.

Its ``kernel_sources`` are those kernels (``owner/slug``), so Kaggle mounts their outputs under
``/kaggle/input``; the notebook finds their Runs by searching (:mod:`cornkit.kaggle.inputs`),
makes the split they were made on, and runs ``cornkit ensemble`` or ``cornkit stack`` on them
exactly as on a laptop, then ``cornkit submit``. It needs neither a GPU nor training. Its output
carries the member Runs with their models (``cornkit-members/``, :func:`cornkit.kaggle.inputs.carry_members`),
so a predict kernel on it (:mod:`cornkit.kaggle.predict_kernel`) needs no other source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..defaults import COMPETITION
from ..errors import CornkitError
from .kernel_record import KernelRecord
from .kernels import KernelFolder, check_kernel_name, kernel_metadata, load_kernel, write_kernel_folder
from .notebook import more_args, python_args, render_notebook

COMBINE_KINDS = ("ensemble", "stack")


@dataclass(frozen=True)
class CombineSpec:
    """An ensemble (``options``: ``--weights ...``) or a stack (``--meta ...``) of the Runs of the kernels ``sources``."""

    kind: str
    name: str
    user: str
    sources: tuple[KernelFolder, ...]
    options: tuple[str, ...] = ()
    competition: str = COMPETITION
    enable_internet: bool = True
    is_private: bool = True
    split_flags: tuple[str, ...] = ()
    """``cornkit split`` flags that give the kernel the split its sources were made on (:func:`.notebook.split_flags`)."""

    @property
    def title(self) -> str:
        return f"cornkit {self.kind} {self.name}"


def _check(spec: CombineSpec) -> None:
    if spec.kind not in COMBINE_KINDS:
        raise CornkitError(f"{spec.kind!r} is not a kind of combined kernel: choose one of {', '.join(COMBINE_KINDS)}.")
    check_kernel_name(spec.name)
    ids = [source.kernel_id for source in spec.sources]
    if len(ids) < 2:
        raise CornkitError(f"--from names {len(ids)} kernel(s): {spec.kind} needs at least two, e.g. --from a,b.")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CornkitError(f"--from lists kernel {repeated[0]} more than once; list each kernel once.")


def build_combine_kernel(spec: CombineSpec, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Write ``kernels/<name>/``: metadata with the source kernels as ``kernel_sources``, and the combine notebook."""
    _check(spec)
    ids = tuple(source.kernel_id for source in spec.sources)
    meta = kernel_metadata(
        user=spec.user,
        title=spec.title,
        competition=spec.competition,
        is_private=spec.is_private,
        enable_gpu=False,
        enable_internet=spec.enable_internet,
        kernel_sources=ids,
    )
    values = {
        "TITLE": spec.title,
        "COMPETITION": spec.competition,
        "COMPETITION_LITERAL": json.dumps(spec.competition),
        "SETTINGS": "",
        "COMBINE": spec.kind,
        "SOURCE_LIST": ", ".join(f"`{kernel_id}`" for kernel_id in ids),
        "SOURCES": json.dumps(list(ids)),
        "COMBINE_ARGS": python_args(spec.options),
        "SPLIT_ARGS": more_args(spec.split_flags),
    }
    record = KernelRecord(name=spec.name, kind=spec.kind, head=spec.kind, flags=spec.options, sources=tuple(s.name for s in spec.sources))
    return write_kernel_folder(Path(kernels_dir) / spec.name, meta, render_notebook({"combine", "split", "submit"}, values), record)


def source_kernels(names: Sequence[str], kernels_dir: str | Path) -> tuple[KernelFolder, ...]:
    """The built kernel folders named in ``--from``."""
    return tuple(load_kernel(name, kernels_dir) for name in names)

"""Inference-only kernels: another kernel's fitted model predicts the competition's test images, no training.

Code competitions re-run a notebook on a hidden test set, and a long fine-tune should not be
repeated to predict a few thousand images. The predict kernel's ``kernel_sources`` is the
kernel whose Run (with its model: a cornkit kernel copies the whole Run folder to its output)
it loads; the notebook finds that Run by searching the input folder (:mod:`cornkit.kaggle.inputs`)
and runs ``cornkit predict RUN --data DATA`` (:mod:`cornkit.heads.predict`), then copies the
checked ``submission.csv`` where Kaggle looks for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..defaults import COMPETITION
from .kernel_record import KernelRecord
from .kernels import KernelFolder, check_kernel_name, kernel_metadata, write_kernel_folder
from .notebook import python_args, render_notebook

PREDICT = "predict"


@dataclass(frozen=True)
class PredictKernelSpec:
    """A kernel that predicts with the Run of kernel ``source``; ``options`` are `cornkit predict` flags (``--pretrained PATH``)."""

    name: str
    user: str
    source: KernelFolder
    options: tuple[str, ...] = ()
    competition: str = COMPETITION
    enable_internet: bool = False
    is_private: bool = True
    dataset_sources: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"cornkit predict {self.name}"


def _needs_open_clip(source: KernelFolder) -> bool:
    """Whether the source's model needs open_clip (a head on CLIP features, a fine-tuned CLIP tower): as its own notebook did."""
    return "open_clip_torch" in (source.path / source.metadata["code_file"]).read_text()


def build_predict_kernel(spec: PredictKernelSpec, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Write ``kernels/<name>/``: the source kernel as ``kernel_sources``, the GPU as the source had it, the predict notebook."""
    check_kernel_name(spec.name)
    meta = kernel_metadata(
        user=spec.user,
        title=spec.title,
        competition=spec.competition,
        is_private=spec.is_private,
        enable_gpu=bool(spec.source.metadata.get("enable_gpu", False)),
        enable_internet=spec.enable_internet,
        dataset_sources=spec.dataset_sources,
        kernel_sources=(spec.source.kernel_id,),
    )
    values = {
        "TITLE": spec.title,
        "COMPETITION": spec.competition,
        "COMPETITION_LITERAL": json.dumps(spec.competition),
        "SETTINGS": "",
        "SOURCE_LIST": f"`{spec.source.kernel_id}`",
        "SOURCES": json.dumps([spec.source.kernel_id]),
        "PREDICT_ARGS": python_args(spec.options),
    }
    tags = {PREDICT, *(["needs-open-clip"] if _needs_open_clip(spec.source) else [])}
    record = KernelRecord(name=spec.name, kind=PREDICT, head=PREDICT, flags=spec.options, sources=(spec.source.name,))
    return write_kernel_folder(Path(kernels_dir) / spec.name, meta, render_notebook(tags, values), record)

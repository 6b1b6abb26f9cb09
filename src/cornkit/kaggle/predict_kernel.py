"""Inference-only kernels: another kernel's fitted model predicts the competition's test images, no training.

Code competitions re-run a notebook on a hidden test set, and a long fine-tune should not be
repeated to predict a few thousand images. The predict kernel's ``kernel_sources`` is the
kernel whose Run (with its model: a cornkit kernel copies the whole Run folder to its output)
it loads; the notebook finds that Run by searching the input folder (:mod:`cornkit.kaggle.inputs`)
and runs ``cornkit predict RUN --data DATA`` (:mod:`cornkit.heads.predict`), then copies the
checked ``submission.csv`` where Kaggle looks for it. The source may be an ensemble or stack
kernel: its output carries its member Runs (``cornkit-members/``), which the notebook links into
``WORK/runs/``, where ``cornkit predict`` looks them up by run id; what the kernel needs (open_clip,
a GPU, CLIP weights) is then what the head kernels behind those members needed.

A predict kernel runs with internet off unless asked, so it is built only when what it needs
comes without the internet: open_clip from an attached dataset, CLIP weights from a file
(:func:`cornkit.kaggle.kernels.check_offline_open_clip`, the check ``kernels build --no-internet`` runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..defaults import COMPETITION
from ..errors import CornkitError
from ..heads.registry import get_head
from .kernel_record import KernelRecord
from .kernels import KernelFolder, check_kernel_name, check_offline_open_clip, check_offline_weights, kernel_metadata, load_kernel, write_kernel_folder
from .notebook import python_args, render_notebook
from .recipes import recipe_for

PREDICT = "predict"


@dataclass(frozen=True)
class PredictKernelSpec:
    """A kernel that predicts with the Run of kernel ``source``; ``pretrained`` and ``options`` are `cornkit predict` flags."""

    name: str
    user: str
    source: KernelFolder
    options: tuple[str, ...] = ()
    pretrained: str | None = None
    competition: str = COMPETITION
    enable_internet: bool = False
    is_private: bool = True
    dataset_sources: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"cornkit predict {self.name}"


def _needs_open_clip(leaf: KernelFolder) -> bool:
    """Whether a head kernel's model needs open_clip (a head on CLIP features, a fine-tuned CLIP tower): as its own notebook did."""
    return "open_clip_torch" in (leaf.path / leaf.metadata["code_file"]).read_text()


def _pretrained(leaf: KernelFolder) -> str | None:
    """The weights a head kernel was made with: its notebook's ``PRETRAINED`` setting, else its recipe's (None: the head's default)."""
    notebook = nbformat.read(leaf.path / leaf.metadata["code_file"], as_version=4)
    for line in (line for cell in notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines()):
        if line.startswith("PRETRAINED = "):
            return str(json.loads(line.removeprefix("PRETRAINED = ")))
    return recipe_for(get_head(leaf.record().head)).pretrained


def head_kernels(source: KernelFolder) -> list[KernelFolder]:
    """The head kernels whose models the Run of ``source`` predicts with: itself, or the head kernels behind an ensemble or stack.

    A combine kernel's sources are built folders beside it (``--kernels``); a predict kernel leaves
    no Run (only predictions), so it cannot be a source.
    """
    record = source.record()
    if record.kind == PREDICT:
        raise CornkitError(f"--from {source.name}: a predict kernel leaves predictions, not a Run; give its source ({', '.join(record.sources)}).")
    if record.kind == "head":
        return [source]
    return [leaf for name in record.sources for leaf in head_kernels(load_kernel(name, source.path.parent))]


def check_offline_predict(spec: PredictKernelSpec, leaves: list[KernelFolder]) -> None:
    """Refuse an internet-off predict kernel whose models need a download: open_clip from PyPI, CLIP weights from the hub.

    Only heads on CLIP features load weights when they predict (they embed the images again); a
    fine-tune's exported learner holds its own.
    """
    if spec.enable_internet:
        return
    offline = "a predict kernel runs with internet off (--internet turns it on)"
    for leaf in leaves:
        if _needs_open_clip(leaf):
            check_offline_open_clip(offline, f"the model of kernel {leaf.name}", spec.dataset_sources)
        if get_head(leaf.record().head).inputs != "features":
            continue
        if spec.pretrained is not None:
            check_offline_weights(f"{offline}; it was given", spec.pretrained)
        elif (recorded := _pretrained(leaf)) is not None:
            check_offline_weights(f"{offline}; kernel {leaf.name} was made", recorded)


def build_predict_kernel(spec: PredictKernelSpec, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Write ``kernels/<name>/``: the source kernel as ``kernel_sources``, a GPU if a head behind it had one, the predict notebook."""
    check_kernel_name(spec.name)
    leaves = head_kernels(spec.source)
    check_offline_predict(spec, leaves)
    meta = kernel_metadata(
        user=spec.user,
        title=spec.title,
        competition=spec.competition,
        is_private=spec.is_private,
        enable_gpu=any(leaf.uses_gpu for leaf in leaves),
        enable_internet=spec.enable_internet,
        dataset_sources=spec.dataset_sources,
        kernel_sources=(spec.source.kernel_id,),
    )
    options = (*(("--pretrained", spec.pretrained) if spec.pretrained else ()), *spec.options)
    values = {
        "TITLE": spec.title,
        "COMPETITION": spec.competition,
        "COMPETITION_LITERAL": json.dumps(spec.competition),
        "SETTINGS": "",
        "SOURCE_LIST": f"`{spec.source.kernel_id}`",
        "SOURCES": json.dumps([spec.source.kernel_id]),
        "PREDICT_ARGS": python_args(options),
    }
    tags = {PREDICT, *(["needs-open-clip"] if any(_needs_open_clip(leaf) for leaf in leaves) else [])}
    record = KernelRecord(name=spec.name, kind=PREDICT, head=PREDICT, flags=options, sources=(spec.source.name,))
    return write_kernel_folder(Path(kernels_dir) / spec.name, meta, render_notebook(tags, values), record)

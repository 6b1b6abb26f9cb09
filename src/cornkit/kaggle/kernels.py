"""Kaggle kernels that run the kit itself: build one (a head, or a variant of one), load it, push it, ask its state.

``build_kernel`` writes ``kernels/<name>/`` (``<name>`` is ``--name``, the head's name by
default) with ``kernel-metadata.json`` (checked before it is written), the notebook
:mod:`cornkit.kaggle.notebook` builds from the packaged template (the head's kernel recipe
fills it in) and ``cornkit-kernel.json`` (:mod:`cornkit.kaggle.kernel_record`: head, flags,
pushes). The notebook unpacks the kit's own source (shipped inside it, so the kernel needs
only the Kaggle image, plus ``open_clip_torch`` from pip or from attached wheels) and drives it
through its command line, exactly as on a laptop: split, head, submit. It copies the
submission to ``<working>/submission.csv``, the Run's summary to ``cornkit-run.json`` and the
Run folder to ``cornkit-runs/<run-id>/``, from where ``cornkit kernels output`` brings it back
(:mod:`cornkit.kaggle.kernel_output`). Several variants of one head are several folders, each
with its own title and slug.

The input and working roots default to ``/kaggle/input`` and ``/kaggle/working``; the
``CORNKIT_INPUT_ROOT`` and ``CORNKIT_WORKING_ROOT`` environment variables move them, so the
very notebook that is pushed also runs on any machine under a simulated Kaggle layout.
Pushing and following them goes through the official client (:mod:`cornkit.kaggle.kernel_api`,
several at once: :mod:`cornkit.kaggle.fanout`). The accelerator (``--accelerator NvidiaTeslaT4``) is the
metadata's ``machine_shape``, which the client sends with the push
(:mod:`cornkit.kaggle.accelerators`); the notebook runs the head on every GPU it finds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from slugify import slugify

from ..atomic import atomic_dir, write_json, write_text
from ..defaults import COMPETITION, RANDOM_WEIGHTS, TIMM_HUB
from ..errors import CornkitError
from ..heads.registry import Head, get_head
from .accelerators import check_accelerator
from .kernel_record import KernelRecord, carried_over, read_record, write_record
from .notebook import build_notebook
from .recipes import KernelRecipe, recipe_for

METADATA_FILE = "kernel-metadata.json"
_OWNER_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*/[a-z0-9][a-z0-9-]{4,}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def check_kernel_name(name: str) -> str:
    """A kernel variant's name: a folder name and the tail of its slug (lower-case letters, digits, dashes)."""
    if not _NAME.match(name):
        raise CornkitError(f"--name {name!r}: use lower-case letters, digits and dashes, starting with a letter or digit (e.g. convnext-l-flip).")
    return name


@dataclass(frozen=True)
class KernelSpec:
    """What to build: the approach, whose kernel it is, and how it runs on Kaggle."""

    approach: str
    user: str
    model: str | None = None
    pretrained: str | None = None
    competition: str = COMPETITION
    enable_gpu: bool | None = None
    accelerator: str | None = None
    enable_internet: bool = True
    is_private: bool = True
    dataset_sources: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    name: str | None = None
    split_flags: tuple[str, ...] = ()
    """``cornkit split`` flags that give the kernel the local split (:func:`.notebook.split_flags`); none: the defaults."""
    sweep_trial: bool = False
    """One trial of a sweep: the kernel runs ``cornkit sweep HEAD --trials 1 --space none`` with the trial's flags (the Run and its
    objective, :mod:`cornkit.sweeps.kernel_trials`) instead of ``cornkit HEAD``, on one GPU."""

    @property
    def folder_name(self) -> str:
        """``kernels/<this>/``: the variant's name, or the head's."""
        return check_kernel_name(self.name) if self.name else self.approach

    @property
    def title(self) -> str:
        """The recipe's title, followed by the variant's name (so each variant has its own slug)."""
        return f"{self.recipe.title} {self.name}" if self.name else self.recipe.title

    @property
    def head(self) -> Head:
        return get_head(self.approach)

    @property
    def needs_open_clip(self) -> bool:
        """Heads on CLIP features need open_clip, and so does a fine-tune of a CLIP tower (``--backbone clip:MODEL``)."""
        return self.head.needs_open_clip or (self.model or self.recipe.model).startswith("clip:")

    @property
    def recipe(self) -> KernelRecipe:
        """The head's kernel recipe (:mod:`cornkit.kaggle.recipes`)."""
        return recipe_for(self.head)


def kernel_slug(title: str) -> str:
    """The slug Kaggle derives from a title (the same library the official client uses)."""
    return slugify(title)


def kernel_metadata(
    *,
    user: str,
    title: str,
    competition: str,
    is_private: bool,
    enable_gpu: bool,
    enable_internet: bool,
    dataset_sources: tuple[str, ...] = (),
    kernel_sources: tuple[str, ...] = (),
    model_sources: tuple[str, ...] = (),
    accelerator: str | None = None,
) -> dict[str, Any]:
    """``kernel-metadata.json`` for a notebook kernel; ``enable_internet`` is always written (the client reads a missing one as true)."""
    return {
        "id": f"{user}/{kernel_slug(title)}",
        "title": title,
        "code_file": f"{kernel_slug(title)}.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": is_private,
        "enable_gpu": enable_gpu,
        "enable_tpu": False,
        "enable_internet": enable_internet,
        "dataset_sources": list(dataset_sources),
        "competition_sources": [competition],
        "kernel_sources": list(kernel_sources),
        "model_sources": list(model_sources),
        **({"machine_shape": check_accelerator(accelerator)} if accelerator else {}),
    }


def _metadata(spec: KernelSpec) -> dict[str, Any]:
    return kernel_metadata(
        user=spec.user,
        title=spec.title,
        competition=spec.competition,
        is_private=spec.is_private,
        enable_gpu=(spec.recipe.enable_gpu or spec.accelerator is not None) if spec.enable_gpu is None else spec.enable_gpu,
        enable_internet=spec.enable_internet,
        dataset_sources=spec.dataset_sources,
        model_sources=spec.model_sources,
        accelerator=spec.accelerator,
    )


def validate_metadata(meta: dict[str, Any], source: str, folder: Path | None = None) -> None:
    """Raise unless ``meta`` is a kernel-metadata.json the Kaggle client and server accept."""

    def bad(key: str, why: str) -> CornkitError:
        return CornkitError(f"{source}: {key!r} {why}")

    for key in ("id", "title", "code_file", "language", "kernel_type"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise bad(key, "is missing or not a string.")
    if not _OWNER_SLUG.match(meta["id"]):
        raise bad("id", f"is {meta['id']!r}; it must be 'your-kaggle-username/kernel-slug' (slug: 5+ lower-case letters, digits, dashes).")
    if len(meta["title"]) < 5 or kernel_slug(meta["title"]) != meta["id"].split("/")[1]:
        raise bad("title", f"{meta['title']!r} must be 5+ characters and slugify to the id's slug {meta['id'].split('/')[1]!r}.")
    if meta["language"] != "python" or meta["kernel_type"] != "notebook":
        raise bad("language", "must be 'python' with kernel_type 'notebook'.")
    for key in ("is_private", "enable_gpu", "enable_tpu", "enable_internet"):
        if not isinstance(meta.get(key, False), bool):
            raise bad(key, "must be true or false.")
    for key in ("dataset_sources", "competition_sources", "kernel_sources", "model_sources"):
        if not isinstance(meta.get(key, []), list) or not all(isinstance(s, str) and s for s in meta.get(key, [])):
            raise bad(key, "must be a list of non-empty strings.")
    if not meta.get("competition_sources"):
        raise bad("competition_sources", f"is empty; the kernel needs the competition's data, e.g. [{COMPETITION!r}].")
    for name in meta.get("dataset_sources", []):
        if not 2 <= len(name.split("/")) <= 3 or not all(name.split("/")):
            raise bad("dataset_sources", f"holds {name!r}; write 'owner/dataset-slug'.")
    for name in meta.get("model_sources", []):
        parts = name.split("/")
        if len(parts) != 5 or not all(parts) or not parts[4].isdigit():
            raise bad("model_sources", f"holds {name!r}; write 'owner/model/framework/variation/version-number'.")
    if meta.get("machine_shape"):
        if not isinstance(meta["machine_shape"], str):
            raise bad("machine_shape", "must be an accelerator name such as 'NvidiaTeslaT4'.")
        check_accelerator(meta["machine_shape"], warn=False)
        if not meta.get("enable_gpu"):
            raise bad("machine_shape", f"is {meta['machine_shape']!r} but enable_gpu is false; drop --no-gpu or the accelerator.")
    if folder is not None and not (folder / meta["code_file"]).is_file():
        raise bad("code_file", f"names {meta['code_file']!r}, which is not in {folder}.")


@dataclass(frozen=True)
class KernelFolder:
    """A built kernel folder and its metadata."""

    path: Path
    metadata: dict[str, Any]

    @property
    def kernel_id(self) -> str:
        return str(self.metadata["id"])

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def uses_gpu(self) -> bool:
        return bool(self.metadata.get("enable_gpu"))

    def record(self) -> KernelRecord:
        """Its ``cornkit-kernel.json`` (head, flags, last push and state)."""
        return read_record(self.path)

    def update(self, record: KernelRecord) -> None:
        """Write a new state of its record."""
        write_record(self.path, record)


def check_offline_inputs(spec: KernelSpec) -> None:
    """Refuse an internet-off kernel that would fail on Kaggle after queueing: no pip, no hub.

    Without internet the kernel can only install open_clip from an attached dataset of wheels
    and only load weights from a file under ``/kaggle/input``.
    """
    if spec.enable_internet:
        return
    if spec.needs_open_clip:
        check_offline_open_clip("--no-internet", f"the {spec.approach} kernel", spec.dataset_sources)
    check_offline_weights("--no-internet", spec.pretrained or spec.recipe.pretrained or TIMM_HUB)


def check_offline_open_clip(offline: str, what: str, dataset_sources: tuple[str, ...]) -> None:
    """Refuse ``what`` (a kernel that imports open_clip) offline unless a dataset, its wheels presumably, is attached; ``offline`` says why it is offline."""
    if not dataset_sources:
        raise CornkitError(
            f"{offline}: {what} needs open_clip_torch, which the Kaggle image lacks. Attach a dataset "
            "holding its wheel with --dataset-source OWNER/SLUG, or build with internet on."
        )


def check_offline_weights(offline: str, pretrained: str) -> None:
    """Refuse weights an offline kernel would have to download: only random weights or a file under ``/kaggle/input`` load without the hub."""
    if pretrained.lower() != RANDOM_WEIGHTS and not pretrained.startswith("/"):
        raise CornkitError(
            f"{offline} with --pretrained {pretrained}: the kernel cannot download weights. Attach them "
            "(--dataset-source or --model-source) and give their path, e.g. --pretrained /kaggle/input/SLUG/FILE."
        )


def write_kernel_folder(target: Path, meta: dict[str, Any], notebook: nbformat.NotebookNode, record: KernelRecord) -> KernelFolder:
    """Check ``meta``, then swap in ``target`` whole: notebook, metadata, and the record (keeping the old folder's pushes)."""
    validate_metadata(meta, str(target / METADATA_FILE))
    record = carried_over(target, record)
    with atomic_dir(target) as folder:
        write_text(folder / meta["code_file"], nbformat.writes(notebook) + "\n")
        write_json(folder / METADATA_FILE, meta)
        write_record(folder, record)
    return KernelFolder(target, meta)


def build_kernel(spec: KernelSpec, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Write ``kernels/<name>/`` (metadata checked first, the folder swapped in whole)."""
    check_offline_inputs(spec)
    record = KernelRecord(name=spec.folder_name, kind="head", head=spec.approach, flags=spec.extra_args)
    return write_kernel_folder(Path(kernels_dir) / spec.folder_name, _metadata(spec), build_notebook(spec), record)


def load_kernel(name: str, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Read and check a built kernel folder (the user may have edited its metadata)."""
    folder = Path(kernels_dir) / name
    path = folder / METADATA_FILE
    if not path.is_file():
        raise CornkitError(f"{path} not found: run `cornkit kernels build HEAD --name {name}` first.")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CornkitError(f"{path} is not valid JSON ({error}); rebuild it with `cornkit kernels build`.") from None
    validate_metadata(meta, str(path), folder)
    return KernelFolder(folder, meta)


def built_kernels(kernels_dir: str | Path = "kernels") -> list[KernelFolder]:
    """Every built kernel folder under ``kernels_dir``, by name."""
    root = Path(kernels_dir)
    folders = sorted(p.parent.name for p in root.glob(f"*/{METADATA_FILE}")) if root.is_dir() else []
    return [load_kernel(name, root) for name in folders]

"""Kaggle kernels that run the kit itself: build, push, follow, fetch the submission.

``build_kernel`` writes ``kernels/<approach>/`` with ``kernel-metadata.json`` (checked before
it is written) and the notebook :mod:`cornkit.kaggle.notebook` builds from the packaged template
(the head's kernel recipe fills it in): markdown that explains the approach, then
code cells that unpack the kit's own source (shipped inside the notebook, so the kernel needs
only the Kaggle image, plus ``open_clip_torch`` from pip or from attached wheels) and drive it
through its command line, exactly as on a laptop: split, head, submit. The notebook copies the
submission to ``<working>/submission.csv`` and the Run's summary to ``cornkit-run.json``.

The input and working roots default to ``/kaggle/input`` and ``/kaggle/working``; the
``CORNKIT_INPUT_ROOT`` and ``CORNKIT_WORKING_ROOT`` environment variables move them, so the
very notebook that is pushed also runs on any machine under a simulated Kaggle layout.
``push_kernel``, ``kernel_status`` (and ``wait_for_kernel``) and ``fetch_kernel_output`` go through the
official client. The accelerator (``--accelerator NvidiaTeslaT4``) is the metadata's
``machine_shape``, which the client sends with the push (:mod:`cornkit.kaggle.accelerators`);
the notebook runs CLIP feature extraction on every GPU it finds.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
from slugify import slugify

from ..atomic import atomic_dir, write_json, write_text
from ..data.dataset import Dataset
from ..defaults import COMPETITION, RANDOM_WEIGHTS, TIMM_HUB
from ..errors import CornkitError
from ..heads.registry import Head, KernelRecipe, all_heads, get_head
from .accelerators import check_accelerator
from .client import KaggleSession, kaggle_call
from .notebook import RUN_SUMMARY, SUBMISSION_FILE, build_notebook
from .submission import Submission, record_submission, validate_for_dataset

METADATA_FILE = "kernel-metadata.json"
_OWNER_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*/[a-z0-9][a-z0-9-]{4,}$")


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

    @property
    def head(self) -> Head:
        return get_head(self.approach)

    @property
    def needs_open_clip(self) -> bool:
        """Heads on CLIP features need open_clip, and so does a fine-tune of a CLIP tower (``--backbone clip:MODEL``)."""
        return self.head.needs_open_clip or (self.model or self.recipe.model).startswith("clip:")

    @property
    def recipe(self) -> KernelRecipe:
        """The head's kernel recipe (a registered head without one cannot be built as a kernel)."""
        if self.head.kernel is None:
            with_recipe = [h.name for h in all_heads().values() if h.kernel]
            raise CornkitError(f"head {self.approach!r} has no kernel recipe: choose one of {', '.join(with_recipe)}.")
        return self.head.kernel


def kernel_slug(title: str) -> str:
    """The slug Kaggle derives from a title (the same library the official client uses)."""
    return slugify(title)


def _metadata(spec: KernelSpec, code_file: str) -> dict[str, Any]:
    recipe = spec.recipe
    return {
        "id": f"{spec.user}/{kernel_slug(recipe.title)}",
        "title": recipe.title,
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": spec.is_private,
        "enable_gpu": (recipe.enable_gpu or spec.accelerator is not None) if spec.enable_gpu is None else spec.enable_gpu,
        "enable_tpu": False,
        "enable_internet": spec.enable_internet,
        "dataset_sources": list(spec.dataset_sources),
        "competition_sources": [spec.competition],
        "kernel_sources": [],
        "model_sources": list(spec.model_sources),
        **({"machine_shape": check_accelerator(spec.accelerator)} if spec.accelerator else {}),
    }


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


def check_offline_inputs(spec: KernelSpec) -> None:
    """Refuse an internet-off kernel that would fail on Kaggle after queueing: no pip, no hub.

    Without internet the kernel can only install open_clip from an attached dataset of wheels
    and only load weights from a file under ``/kaggle/input``.
    """
    if spec.enable_internet:
        return
    recipe = spec.recipe
    if spec.needs_open_clip and not spec.dataset_sources:
        raise CornkitError(
            f"--no-internet: the {spec.approach} kernel needs open_clip_torch, which the Kaggle image lacks. Attach a dataset "
            "holding its wheel with --dataset-source OWNER/SLUG, or build with internet on."
        )
    pretrained = spec.pretrained or recipe.pretrained or TIMM_HUB
    if pretrained.lower() != RANDOM_WEIGHTS and not pretrained.startswith("/"):
        raise CornkitError(
            f"--no-internet with --pretrained {pretrained}: the kernel cannot download weights. Attach them "
            "(--dataset-source or --model-source) and give their path, e.g. --pretrained /kaggle/input/SLUG/FILE."
        )


def build_kernel(spec: KernelSpec, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Write ``kernels/<approach>/`` (metadata checked first, the folder swapped in whole)."""
    check_offline_inputs(spec)
    code_file = f"{kernel_slug(spec.recipe.title)}.ipynb"
    meta = _metadata(spec, code_file)
    target = Path(kernels_dir) / spec.approach
    validate_metadata(meta, str(target / METADATA_FILE))
    notebook = build_notebook(spec)
    with atomic_dir(target) as folder:
        write_text(folder / code_file, nbformat.writes(notebook) + "\n")
        write_json(folder / METADATA_FILE, meta)
    return KernelFolder(target, meta)


def load_kernel(approach: str, kernels_dir: str | Path = "kernels") -> KernelFolder:
    """Read and check a built kernel folder (the user may have edited its metadata)."""
    folder = Path(kernels_dir) / approach
    path = folder / METADATA_FILE
    if not path.is_file():
        raise CornkitError(f"{path} not found: run `cornkit kernels build {approach}` first.")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CornkitError(f"{path} is not valid JSON ({error}); rebuild it with `cornkit kernels build {approach}`.") from None
    validate_metadata(meta, str(path), folder)
    return KernelFolder(folder, meta)


def _not_found(kernel: KernelFolder) -> str:
    return f"Kernel {kernel.kernel_id} does not exist yet: push it with `cornkit kernels push {kernel.path.name}`."


def push_kernel(kernel: KernelFolder, session: KaggleSession, accelerator: str | None = None) -> Any:
    """Send the kernel with the official client; return its response (``url``, ``version_number``).

    ``accelerator`` overrides the metadata's ``machine_shape`` for this push, as the client's
    own ``kernels push --accelerator`` does.
    """
    owner = kernel.kernel_id.split("/")[0]
    response = kaggle_call(
        session,
        f"push kernel {kernel.kernel_id}",
        session.api.kernels_push,
        str(kernel.path),
        acc=check_accelerator(accelerator) if accelerator else None,
        forbidden=f"Your account may not write {kernel.kernel_id}: rebuild with --user set to your Kaggle username (not {owner!r}).",
    )
    if response.error:
        raise CornkitError(f"Kaggle refused kernel {kernel.kernel_id}: {response.error}")
    return response


def kernel_status(kernel: KernelFolder, session: KaggleSession) -> tuple[str, str]:
    """The kernel's latest run state (QUEUED, RUNNING, COMPLETE, ERROR, ...) and failure message."""
    response = kaggle_call(session, f"get the status of kernel {kernel.kernel_id}", session.api.kernels_status, kernel.kernel_id, not_found=_not_found(kernel))
    return response.status.name, response.failure_message or ""


FINISHED = frozenset({"COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED"})


def wait_for_kernel(
    kernel: KernelFolder,
    session: KaggleSession,
    *,
    timeout_s: float,
    interval_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str]:
    """Poll the kernel's state until it finishes or ``timeout_s`` passes; raise if it failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, failure = kernel_status(kernel, session)
        if status in FINISHED or time.monotonic() >= deadline:
            break
        sleep(interval_s)
    if status == "ERROR":
        raise CornkitError(f"kernel {kernel.kernel_id} failed: {failure or 'no message'}. Open it on Kaggle to read its log.")
    if status not in FINISHED:
        raise CornkitError(f"kernel {kernel.kernel_id} is still {status} after {timeout_s:.0f} s: run this again later.")
    return status, failure


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


def _read_output(output: Path, kernel: KernelFolder) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The kernel's submission table and Run summary, checked: a damaged download is one line naming the file."""
    where = f"of kernel {kernel.kernel_id}"
    try:
        frame = pd.read_csv(output / SUBMISSION_FILE, dtype=str, keep_default_na=False)  # labels verbatim
        summary = json.loads((output / RUN_SUMMARY).read_text()) if (output / RUN_SUMMARY).is_file() else {}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CornkitError(f"the output {where} is damaged ({str(error).splitlines()[0]}): run `cornkit kernels output` again.") from None
    run_id = summary.get("run_id") if isinstance(summary, dict) else None
    if not isinstance(summary, dict) or not (run_id is None or (isinstance(run_id, str) and _RUN_ID.match(run_id))):
        raise CornkitError(f"{RUN_SUMMARY} {where} holds no valid run id (letters, digits, '.', '-', '_', at most 151): re-run the kernel.")
    return frame, summary


def fetch_kernel_output(kernel: KernelFolder, session: KaggleSession, dataset: Dataset, submissions: str | Path = "submissions") -> Submission:
    """Download the kernel's ``submission.csv``, check it, and record it in ``submissions/``.

    Its run id is ``kernel-<the Run's id on Kaggle>`` (from ``cornkit-run.json``): the same
    configuration run locally would have the same id, but not necessarily the same predictions.
    """
    with tempfile.TemporaryDirectory(prefix="cornkit-kernel-output-") as tmp:
        kaggle_call(
            session,
            f"fetch the output of kernel {kernel.kernel_id}",
            session.api.kernels_output,
            kernel.kernel_id,
            tmp,
            file_pattern=rf"^({re.escape(SUBMISSION_FILE)}|{re.escape(RUN_SUMMARY)})$",
            force=True,
            quiet=True,
            not_found=_not_found(kernel),
        )
        output = Path(tmp)
        if not (output / SUBMISSION_FILE).is_file():
            raise CornkitError(
                f"kernel {kernel.kernel_id} has no {SUBMISSION_FILE} in its output yet: "
                f"check `cornkit kernels status {kernel.path.name}` and wait for COMPLETE."
            )
        frame, summary = _read_output(output, kernel)
    validate_for_dataset(frame, dataset, f"{SUBMISSION_FILE} of kernel {kernel.kernel_id}")
    run_id = f"kernel-{summary.get('run_id') or kernel.kernel_id.split('/')[1]}"
    return record_submission(
        frame,
        run_id,
        str(summary.get("approach", kernel.path.name)),
        str(summary.get("model", "")),
        float(summary.get("val_accuracy", float("nan"))),
        submissions,
    )

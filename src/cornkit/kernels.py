"""Kaggle kernels that run the kit itself: build, push, follow, fetch the submission.

``build_kernel`` writes ``kernels/<approach>/`` with ``kernel-metadata.json`` (checked before
it is written) and a notebook made with nbformat: markdown that explains the approach, then
code cells that unpack the kit's own source (shipped inside the notebook, so the kernel needs
only the Kaggle image, plus ``open_clip_torch`` from pip or from attached wheels) and drive it
through its command line, exactly as on a laptop: split, head, submit. The notebook copies the
submission to ``<working>/submission.csv`` and the Run's summary to ``cornkit-run.json``.

The input and working roots default to ``/kaggle/input`` and ``/kaggle/working``; the
``CORNKIT_INPUT_ROOT`` and ``CORNKIT_WORKING_ROOT`` environment variables move them, so the
very notebook that is pushed also runs on any machine under a simulated Kaggle layout.
``push_kernel``, ``kernel_status`` (and ``wait_for_kernel``) and ``fetch_kernel_output`` go through the
official client.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from slugify import slugify

from . import __version__
from .atomic import atomic_dir, write_json, write_text
from .dataset import Dataset
from .errors import CornkitError
from .kaggle_client import KaggleSession, kaggle_call
from .options import COMPETITION, CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from .submission import Submission, record_submission, validate_for_dataset

METADATA_FILE = "kernel-metadata.json"
RUN_SUMMARY = "cornkit-run.json"
SUBMISSION_FILE = "submission.csv"
_OWNER_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*/[a-z0-9][a-z0-9-]{4,}$")


@dataclass(frozen=True)
class Recipe:
    """One approach as a kernel: what the notebook says and the head command it runs."""

    title: str
    explanation: str
    head: tuple[str, ...]
    model: str
    pretrained: str | None
    needs_open_clip: bool
    enable_gpu: bool = True


_CLIP_ARGS = ("--model", "{MODEL}", "--pretrained", "{PRETRAINED}")
RECIPES: dict[str, Recipe] = {
    "zeroshot": Recipe(
        title="cornkit CLIP zero-shot",
        explanation=(
            "A CLIP model compares each kernel photo with text prompts, one set per class "
            "(pure, broken, discolored, silkcut), and predicts the closest class. No training: "
            "it shows how far a general vision-language model gets on corn kernels."
        ),
        head=("zeroshot", *_CLIP_ARGS),
        model="ViT-H-14",
        pretrained="laion2b_s32b_b79k",
        needs_open_clip=True,
    ),
    "probe": Recipe(
        title="cornkit CLIP linear probe",
        explanation=(
            "CLIP image features for every photo, cached, then a logistic regression fitted on the "
            "training rows, its regularisation chosen by cross-validation: the strongest CLIP "
            "approach on this competition for the cost of one feature pass."
        ),
        head=("probe", *_CLIP_ARGS),
        model="ViT-H-14",
        pretrained="laion2b_s32b_b79k",
        needs_open_clip=True,
    ),
    "convnext": Recipe(
        title="cornkit ConvNeXt baseline",
        explanation=(
            "A ConvNeXt from timm, pretrained on ImageNet, fine-tuned with fastai on the training "
            "rows; predictions with test-time augmentation. The baseline the winners improved on."
        ),
        head=("convnext", "--arch", "{MODEL}"),
        model=CONVNEXT_ARCH,
        pretrained=None,
        needs_open_clip=False,
    ),
}


@dataclass(frozen=True)
class KernelSpec:
    """What to build: the approach, whose kernel it is, and how it runs on Kaggle."""

    approach: str
    user: str
    model: str | None = None
    pretrained: str | None = None
    competition: str = COMPETITION
    enable_gpu: bool | None = None
    enable_internet: bool = True
    is_private: bool = True
    dataset_sources: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def recipe(self) -> Recipe:
        if self.approach not in RECIPES:
            raise CornkitError(f"no kernel recipe for approach {self.approach!r}: choose one of {sorted(RECIPES)}.")
        return RECIPES[self.approach]


def kernel_slug(title: str) -> str:
    """The slug Kaggle derives from a title (the same library the official client uses)."""
    return slugify(title)


def kit_source_zip() -> bytes:
    """The kit's package source as a zip with fixed timestamps, so the same source gives the same bytes."""
    package = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(f"cornkit/{path.relative_to(package).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _metadata(spec: KernelSpec, code_file: str) -> dict[str, Any]:
    recipe = spec.recipe
    return {
        "id": f"{spec.user}/{kernel_slug(recipe.title)}",
        "title": recipe.title,
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": spec.is_private,
        "enable_gpu": recipe.enable_gpu if spec.enable_gpu is None else spec.enable_gpu,
        "enable_tpu": False,
        "enable_internet": spec.enable_internet,
        "dataset_sources": list(spec.dataset_sources),
        "competition_sources": [spec.competition],
        "kernel_sources": [],
        "model_sources": list(spec.model_sources),
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
    if folder is not None and not (folder / meta["code_file"]).is_file():
        raise bad("code_file", f"names {meta['code_file']!r}, which is not in {folder}.")


def _code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip() + "\n")


def _literal(text: str) -> str:
    """``text`` as a double-quoted Python string literal (JSON's string syntax is Python's)."""
    return json.dumps(text)


def _cornkit_call(args: tuple[str, ...]) -> str:
    """A Python call of the notebook's ``cornkit`` helper for ``args`` ({MODEL} etc. become variables)."""
    rendered = [a[1:-1] if a.startswith("{") and a.endswith("}") else _literal(a) for a in args]
    return f"cornkit({', '.join(rendered)})"


def build_notebook(spec: KernelSpec) -> nbformat.NotebookNode:
    """The kernel notebook for ``spec``: explanation in markdown, the kit run in code cells."""
    recipe = spec.recipe
    model = spec.model or recipe.model
    pretrained = spec.pretrained or recipe.pretrained
    source = kit_source_zip()
    optional_pretrained = ("--pretrained", "{PRETRAINED}") if pretrained and "{PRETRAINED}" not in recipe.head else ()
    head = (recipe.head[0], "--data", "{DATA}", "--work", "{WORK}", *recipe.head[1:], *optional_pretrained, *spec.extra_args)
    settings = f"MODEL = {_literal(model)}\n" + (f"PRETRAINED = {_literal(pretrained)}\n" if pretrained else "")
    cells = [
        new_markdown_cell(
            f"# {recipe.title}\n\n{recipe.explanation}\n\n"
            f"Built by cornkit {__version__} for the competition `{spec.competition}`. "
            "The notebook unpacks the kit's own source (below, as a zip) and runs the same commands as on a laptop:\n\n"
            f"1. `cornkit split`: the stratified, seeded validation split;\n"
            f"2. `cornkit {recipe.head[0]}`: the {spec.approach} Run (validation and test probabilities);\n"
            "3. `cornkit submit`: a checked `submission.csv`, copied to the working folder with the Run's summary.\n\n"
            "`CORNKIT_INPUT_ROOT` and `CORNKIT_WORKING_ROOT` move `/kaggle/input` and `/kaggle/working`, "
            "so this notebook also runs off Kaggle."
        ),
        _code(
            f"""
import base64, io, json, os, shutil, subprocess, sys, tempfile, zipfile
from pathlib import Path

COMPETITION = {_literal(spec.competition)}
{settings}INPUT_ROOT = Path(os.environ.get("CORNKIT_INPUT_ROOT", "/kaggle/input"))
WORKING_ROOT = Path(os.environ.get("CORNKIT_WORKING_ROOT", "/kaggle/working"))
found = sorted([*(INPUT_ROOT / COMPETITION).glob("train.csv"), *(INPUT_ROOT / COMPETITION).glob("*/train.csv")])
if not found:
    raise FileNotFoundError(f"no train.csv under {{INPUT_ROOT / COMPETITION}}: add the competition data to this notebook")
DATA = found[0].parent
WORK = WORKING_ROOT / "cornkit-work"
SUBMISSIONS = WORKING_ROOT / "cornkit-submissions"
print("data:", DATA)
"""
        ),
    ]
    if recipe.needs_open_clip:
        cells += [
            new_markdown_cell(
                "open_clip is not in the Kaggle image. With internet on it comes from PyPI; with internet off, "
                "attach a dataset holding the `open_clip_torch` wheel and its dependencies (`dataset_sources`)."
            ),
            _code(
                """
try:
    import open_clip
except ImportError:
    wheels = sorted({str(w.parent) for w in INPUT_ROOT.glob("*/*.whl")})
    offline = [arg for folder in wheels for arg in ("--no-index", "--find-links", folder)]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *offline, "open_clip_torch"], check=True)
"""
            ),
        ]
    cells += [
        new_markdown_cell(
            f"The kit's source, cornkit {__version__} ({len(source)} bytes zipped, sha256 `{hashlib.sha256(source).hexdigest()[:16]}`). "
            "`cornkit(...)` runs one command and returns its last printed line: the run id or path it wrote."
        ),
        _code(
            f"""
KIT_SOURCE = "{base64.b64encode(source).decode()}"
KIT = Path(tempfile.mkdtemp(prefix="cornkit-src-"))
zipfile.ZipFile(io.BytesIO(base64.b64decode(KIT_SOURCE))).extractall(KIT)
ENV = {{**os.environ, "PYTHONPATH": os.pathsep.join([str(KIT), os.environ.get("PYTHONPATH", "")])}}


def cornkit(*args):
    result = subprocess.run([sys.executable, "-m", "cornkit", *map(str, args)], env=ENV, capture_output=True, text=True)
    print(result.stdout[-4000:])
    if result.returncode:
        print(result.stderr[-4000:])
        raise RuntimeError(f"cornkit {{args[0]}} failed with exit code {{result.returncode}}")
    return result.stdout.strip().splitlines()[-1]
"""
        ),
        new_markdown_cell("## 1. Validation split\nStratified and seeded, saved with the Run, so the local score can be reproduced."),
        _code(_cornkit_call(("split", "--data", "{DATA}", "--work", "{WORK}"))),
        new_markdown_cell(f"## 2. The {spec.approach} Run\nValidation and test probabilities, saved under `WORK/runs/`; `RUN` is its run id."),
        _code(f"RUN = {_cornkit_call(head)}\nRUN"),
        new_markdown_cell("## 3. Submission\nChecked against `sample_submission.csv`, then copied where Kaggle looks for it."),
        _code(
            f"""
SUBMISSION = Path({_cornkit_call(("submit", "{RUN}", "--data", "{DATA}", "--work", "{WORK}", "--submissions", "{SUBMISSIONS}"))})
shutil.copyfile(SUBMISSION, WORKING_ROOT / {_literal(SUBMISSION_FILE)})
run_folder = WORK / "runs" / RUN
summary = {{"run_id": RUN, **json.loads((run_folder / "config.json").read_text()), **json.loads((run_folder / "metrics.json").read_text())}}
(WORKING_ROOT / {_literal(RUN_SUMMARY)}).write_text(json.dumps(summary, indent=2, default=str))
print(f"validation accuracy {{summary['val_accuracy']:.4f}}; wrote", WORKING_ROOT / {_literal(SUBMISSION_FILE)})
"""
        ),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nbformat.validate(notebook)
    return notebook


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
    if recipe.needs_open_clip and not spec.dataset_sources:
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


def push_kernel(kernel: KernelFolder, session: KaggleSession) -> Any:
    """Send the kernel with the official client; return its response (``url``, ``version_number``)."""
    owner = kernel.kernel_id.split("/")[0]
    response = kaggle_call(
        session,
        f"push kernel {kernel.kernel_id}",
        session.api.kernels_push,
        str(kernel.path),
        forbidden=f"Your account may not write {kernel.kernel_id}: rebuild with --user set to your Kaggle username (not {owner!r}).",
    )
    if response.error:
        raise CornkitError(f"Kaggle refused kernel {kernel.kernel_id}: {response.error}")
    return response


def kernel_status(kernel: KernelFolder, session: KaggleSession) -> tuple[str, str]:
    """The kernel's latest run state (QUEUED, RUNNING, COMPLETE, ERROR, ...) and failure message."""
    response = kaggle_call(
        session, f"get the status of kernel {kernel.kernel_id}", session.api.kernels_status, kernel.kernel_id, not_found=_not_found(kernel)
    )
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
        frame = pd.read_csv(output / SUBMISSION_FILE)
        summary = json.loads((output / RUN_SUMMARY).read_text()) if (output / RUN_SUMMARY).is_file() else {}
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

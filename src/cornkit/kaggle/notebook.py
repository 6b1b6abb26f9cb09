"""The kernel notebook: the packaged template filled in for a head (or an ensemble), with the kit's own source inside.

``kernel_notebook.py.template`` holds the cells in jupytext's percent format; this module
keeps the cells whose tags apply (``head`` or ``combine``, ``needs-open-clip``, ``takes-gpus``, ``sweep-trial``),
fills in the head, its model and flags, and the kit's source zipped with fixed timestamps (so
the same source gives the same notebook bytes), and turns the text into nbformat cells.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Collection
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .. import __version__
from ..hashing import bytes_hash
from .inputs import MEMBERS_OUTPUT, RUNS_OUTPUT

if TYPE_CHECKING:
    from .kernels import KernelSpec

RUN_SUMMARY = "cornkit-run.json"
SWEEP_TRIAL_FLAGS = ("--trials", "1", "--space", "none", "--pruner", "none")
"""What makes ``cornkit sweep HEAD`` one trial of the parameters its flags give: a sweep's trial kernel runs that."""
SWEEP_TRIAL_KEY = "sweep_trial"
"""The key of ``cornkit-run.json`` under which a trial kernel reports its Run's objective to the sweep that built it."""
SUBMISSION_FILE = "submission.csv"
TEMPLATE = "kernel_notebook.py.template"


def kit_source_zip() -> bytes:
    """The kit's package source as a zip with fixed timestamps, so the same source gives the same bytes."""
    package = Path(__file__).resolve().parent.parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(f"cornkit/{path.relative_to(package).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _literal(text: str) -> str:
    """``text`` as a double-quoted Python string literal (JSON's string syntax is Python's)."""
    return json.dumps(text)


def split_flags(params: dict[str, Any]) -> tuple[str, ...]:
    """The ``cornkit split`` flags that make a kernel's split the one ``params`` (the local ``split.json``) records.

    The split's id is a hash of its CSV, so the same flags on the same data give the kernel the
    local split; the metric and the data flags come along, so the kernel's Runs choose and score
    by the competition's metric and read the data as the local commands do.
    """
    flags: list[str] = ["--folds", str(params["folds"])] if params.get("kind") == "kfold" else ["--valid-frac", str(params["valid_frac"])]
    flags += ["--seed", str(params["seed"])] if params.get("seed") is not None else []
    flags += ["--metric", str(params["metric"])] if params.get("metric") else []
    for name, value in dict(params.get("data") or {}).items():
        flags += [f"--{name.replace('_', '-')}", ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return tuple(flags)


def more_args(flags: tuple[str, ...]) -> str:
    """``flags`` as further arguments of a ``cornkit(...)`` call in the notebook, each after a comma (nothing for none)."""
    return f", {python_args(flags)}" if flags else ""


def python_args(args: tuple[str, ...]) -> str:
    """Arguments of the notebook's ``cornkit(...)`` helper: ``{NAME}`` becomes the variable NAME, the rest string literals."""
    return ", ".join(a[1:-1] if a.startswith("{") and a.endswith("}") else _literal(a) for a in args)


def template_cells(text: str, *, tags: Collection[str], values: dict[str, Any]) -> list[nbformat.NotebookNode]:
    """Notebook cells from the percent-format template: the cells whose every tag is in ``tags``, filled in with ``values``.

    Cells are chosen before they are filled in, so ``values`` need only name what the kept cells use.
    """
    cells = []
    for block in text.split("\n# %%")[1:]:
        marker, _, body = block.partition("\n")
        markdown = marker.strip().startswith("[markdown]")
        if not set(marker.replace("[markdown]", "").split()) <= set(tags):
            continue
        body = Template(body).substitute(values)
        if markdown:
            lines = [line.removeprefix("# ").removeprefix("#") for line in body.strip().splitlines()]
            cells.append(new_markdown_cell("\n".join(lines)))
        else:
            cells.append(new_code_cell(body.strip() + "\n"))
    return cells


def render_notebook(tags: Collection[str], values: dict[str, Any]) -> nbformat.NotebookNode:
    """The packaged template as a checked notebook: the cells for ``tags``, the kit's source and the shared values filled in."""
    source = kit_source_zip()
    shared = {
        "VERSION": __version__,
        "SOURCE_BYTES": len(source),
        "SOURCE_SHA": bytes_hash(source),
        "SOURCE_B64": base64.b64encode(source).decode(),
        "SUBMISSION_FILE": SUBMISSION_FILE,
        "RUN_SUMMARY": RUN_SUMMARY,
        "RUNS_OUTPUT": RUNS_OUTPUT,
        "MEMBERS_OUTPUT": MEMBERS_OUTPUT,
        "SWEEP_TRIAL_KEY": SWEEP_TRIAL_KEY,
    }
    text = (files("cornkit.kaggle") / TEMPLATE).read_text(encoding="utf-8")
    notebook = new_notebook(cells=template_cells(text, tags=tags, values={**shared, **values}))
    notebook.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nbformat.validate(notebook)
    return notebook


def build_notebook(spec: KernelSpec) -> nbformat.NotebookNode:
    """The kernel notebook for ``spec``: the packaged template filled in for the head, the kit's source inside."""
    recipe = spec.recipe
    model = spec.model or recipe.model
    pretrained = spec.pretrained or recipe.pretrained
    command: tuple[str, ...] = ("sweep", spec.approach, *SWEEP_TRIAL_FLAGS) if spec.sweep_trial else (spec.approach,)
    head_args: tuple[str, ...] = (*command, "--data", "{DATA}", "--work", "{WORK}")
    head_args += (recipe.model_flag, "{MODEL}") if recipe.model_flag else ()
    head_args += ("--pretrained", "{PRETRAINED}") if pretrained else ()
    on_every_gpu = spec.head.launchable and not spec.sweep_trial  # a sweep runs its trial in its own process
    head_args += ("--gpus", "auto") if on_every_gpu else ()
    tags = {"head", "split", "submit", *(["needs-open-clip"] if spec.needs_open_clip else []), *(["takes-gpus"] if on_every_gpu else [])}
    tags |= {"sweep-trial"} if spec.sweep_trial else set()
    values = {
        "TITLE": spec.title,
        "EXPLANATION": recipe.explanation,
        "COMPETITION": spec.competition,
        "COMPETITION_LITERAL": _literal(spec.competition),
        "HEAD": spec.approach,
        "HEAD_COMMAND": " ".join(command),
        "SETTINGS": f"MODEL = {_literal(model)}\n" + (f"PRETRAINED = {_literal(pretrained)}\n" if pretrained else ""),
        "HEAD_ARGS": python_args((*head_args, *spec.extra_args)),
        "SPLIT_ARGS": more_args(spec.split_flags),
    }
    return render_notebook(tags, values)

"""What a Run keeps to predict again: its fitted model files and a manifest that says how to read them.

scikit-learn's habit: fitting returns a model that predicts any rows. A Run folder keeps its
fitted model (the probe's estimators, the GDA weights, the Tip-Adapter cache, the stack's
meta-model, the exported fine-tuned learners; an ensemble keeps only its members and weights)
beside ``model.json``, which records the kind of model, the class order, what a prediction
needs (the CLIP model, the TTA setting, ...), the cornkit model format and the SHA-256 of every
file. :func:`read_model` checks all of that before anything is loaded: joblib and pickle files
run code when they are loaded, so the kit loads only files it wrote and recorded, unchanged.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import write_json
from ..errors import CornkitError
from ..hashing import file_sha256

MODEL_FORMAT = 1
"""The layout of ``model.json`` and the model files; a Run saved with another format is refused, never guessed at."""
MANIFEST = "model.json"
KINDS = ("features", "learners", "ensemble", "stack")


@dataclass
class RunModel:
    """A fitted model on its way into a Run folder: its kind, what a prediction needs, and what to save.

    ``objects`` are pickled with joblib under their file names; ``files`` (already written, such
    as fastai's exported learners) are moved in.
    """

    kind: str
    details: dict[str, Any]
    objects: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def write_model(folder: Path, model: RunModel, classes: tuple[str, ...]) -> None:
    """Save ``model`` into the (temporary) Run folder with its manifest and hashes."""
    import joblib

    if model.kind not in KINDS:
        raise ValueError(f"unknown model kind {model.kind!r}")
    for name, obj in model.objects.items():
        joblib.dump(obj, folder / name)
    for name, source in model.files.items():
        shutil.move(source, folder / name)
    names = [*model.objects, *model.files]
    manifest = {
        "format": MODEL_FORMAT,
        "cornkit_version": __version__,
        "kind": model.kind,
        "classes": list(classes),
        "details": model.details,
        "files": {name: file_sha256(folder / name) for name in names},
    }
    write_json(folder / MANIFEST, manifest)


@dataclass(frozen=True)
class SavedModel:
    """A Run's checked model: kind, details and files whose hashes matched the manifest."""

    folder: Path
    run_id: str
    kind: str
    details: dict[str, Any]
    files: tuple[str, ...]

    def path(self, name: str) -> Path:
        return self.folder / name

    def load(self, name: str) -> Any:
        """A joblib file of this model (its hash was checked by :func:`read_model`)."""
        import joblib

        return joblib.load(self.folder / name)


def read_model(folder: Path, run_id: str, classes: tuple[str, ...]) -> SavedModel:
    """The fitted model of the Run in ``folder``, after checking its format, class list and file hashes."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CornkitError(
            f"Run {run_id} keeps no fitted model ({manifest_path} is missing): it was made before cornkit saved models, "
            "or brought back from a kernel without --with-model. Make it again to predict with it."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise CornkitError(f"{manifest_path} cannot be read ({error}); make the Run again.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise CornkitError(
            f"{manifest_path}: model format {found!r}, but this cornkit ({__version__}) reads format {MODEL_FORMAT}; "
            "make the Run again with this version (or predict with the cornkit that made it)."
        )
    if manifest.get("classes") != list(classes) or manifest.get("kind") not in KINDS:
        raise CornkitError(f"{manifest_path}: classes {manifest.get('classes')} do not match the Run's {list(classes)}; the Run is damaged, make it again.")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise CornkitError(f"{manifest_path} lists no model files; the Run is damaged, make it again.")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise CornkitError(
                f"{path} is missing: a Run brought back from a kernel without its model has none (`cornkit kernels output NAME "
                "--with-model` fetches it); otherwise the Run is damaged, make it again."
            )
        if file_sha256(path) != expected:
            raise CornkitError(
                f"{path} does not match the SHA-256 recorded in {MANIFEST}: it changed after the Run was made. cornkit loads only "
                "model files it wrote (joblib and pickle files run code when loaded); make the Run again."
            )
    return SavedModel(folder=folder, run_id=run_id, kind=manifest["kind"], details=dict(manifest.get("details") or {}), files=tuple(files))

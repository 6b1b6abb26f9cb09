"""Predict with a saved Run's fitted model: the Run's own test set again, another competition folder, or a folder of images.

Fit apart from predict (scikit-learn's habit): every Run keeps the model that made its test
probabilities (:mod:`cornkit.runs.model`). This module loads it, after the format, class list
and file hashes are checked, and applies it to images, exactly as the Run was made:

- a head on CLIP features embeds the images with the Run's CLIP model (from the feature cache
  when the work folder has them) and averages its fold models' ``predict_proba``;
- a fine-tune rebuilds each fold's network from its JSON config, loads its safetensors weights
  (nothing is unpickled) and predicts with the Run's TTA setting, seeded as the Run's own test
  prediction was (so TTA draws the same augmentations);
- an ensemble predicts with each member Run (from the same work folder) and mixes them with
  its weights; a stack feeds its members' predictions to its saved meta-model.

That is what an inference-only Kaggle kernel, or a code competition that re-runs a notebook on
a hidden test set, needs: the fitted model and the images, no training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..clip.params import ClipParams, check_pretrained
from ..data.dataset import IMAGE_SUFFIXES, Dataset
from ..data.ids import id_array
from ..errors import CornkitError
from ..params import Params, param, same_as
from .on_features import FEATURE_MODEL_FILE

if TYPE_CHECKING:
    from ..runs.model import SavedModel
    from ..runs.run import Run

IMAGE_ID_COLUMN = "image"
"""The id column of predictions for a folder of images: each image's path inside the folder."""


@dataclass(frozen=True, kw_only=True)
class PredictParams(Params):
    """How ``cornkit predict`` runs: where, in what batches, and (for a CLIP model) which weights file."""

    device: str | None = same_as(ClipParams, "device")
    batch_size: int = param(64, "images per batch", low=1)
    workers: int | None = param(None, "DataLoader workers for CLIP features (default: CPU count up to 8 on CUDA, 0 on the CPU)", low=0)
    pretrained: str | None = param(
        None,
        "CLIP heads: the weights file to use when the one the Run was made with is not here (it must be the same file: its identity is checked)",
        check=check_pretrained,
    )


@dataclass(frozen=True)
class Images:
    """The rows to predict: their ids (a competition's ids, or paths inside a folder), image files and id column name."""

    ids: np.ndarray
    paths: list[Path]
    id_column: str
    dataset: Dataset | None = None

    @classmethod
    def test_set(cls, dataset: Dataset) -> Images:
        """A competition folder's test rows, in ``test.csv`` order."""
        return cls(id_array(dataset.ids("test")), dataset.image_paths("test"), dataset.id_column, dataset)

    @classmethod
    def folder(cls, folder: Path) -> Images:
        """Every image file below ``folder`` (recursively, sorted by path)."""
        if not folder.is_dir():
            raise CornkitError(f"--images {folder}: no such folder.")
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise CornkitError(f"--images {folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it or below it.")
        return cls(np.asarray([p.relative_to(folder).as_posix() for p in paths]), paths, IMAGE_ID_COLUMN)


def predict_run(run: Run, images: Images, work: Path, options: PredictParams | None = None, model: SavedModel | None = None) -> np.ndarray:
    """Class probabilities of ``images`` (rows in ``images`` order, columns in ``run.classes`` order) from the Run's fitted model.

    ``model`` is the Run's checked model when the caller has it already (``run.saved_model()``).
    A Run calibrated for log loss scales them with its recorded temperature, as it scaled its
    own test probabilities (:mod:`cornkit.runs.calibration`).
    """
    from ..runs.calibration import scale

    probs = _predict_uncalibrated(run, images, work, options, model)
    temperature = float(run.metrics.get("temperature", 1.0))
    return probs if temperature == 1.0 else scale(probs, temperature)


def _predict_uncalibrated(run: Run, images: Images, work: Path, options: PredictParams | None, model: SavedModel | None) -> np.ndarray:
    """:func:`predict_run` before the Run's temperature: its model's own probabilities (an ensemble's and stack's of its calibrated members)."""
    from ..runs.run import load_run  # imported here: the command line reads PredictParams to build its parser

    options = options or PredictParams()
    model = model or run.saved_model()
    if model.kind == "features":
        return _predict_features(model, images, work, options)
    if model.kind == "learners":
        return _predict_learners(model, images, work, options)
    members = [load_run(member, work) for member in model.details["members"]]
    for member in members:
        if member.classes != run.classes:
            raise CornkitError(
                f"member Run {member.run_id} has classes {list(member.classes)}, Run {run.run_id} {list(run.classes)}: the Runs do not belong together."
            )
    member_probs = np.stack([predict_run(member, images, work, options) for member in members])
    if model.kind == "ensemble":
        return np.einsum("r,rnc->nc", np.asarray(model.details["weights"], dtype=np.float64), member_probs)
    from ..runs.stack import STACK_MODEL_FILE, meta_features, predict_classes

    return predict_classes(model.load(STACK_MODEL_FILE), meta_features(member_probs), len(run.classes))


def _clip_spec(model: SavedModel, options: PredictParams) -> Any:
    """The Run's CLIP model and weights, or the weights file given instead (refused unless it is the same file)."""
    from ..clip.model import ClipSpec

    clip = model.details["clip"]
    spec = ClipSpec(clip["model"], options.pretrained or clip["pretrained"], flip_tta=bool(clip["flip_tta"]))
    recorded = model.details["identity"]
    if spec.identity() != recorded:
        if options.pretrained is None:
            raise CornkitError(
                f"Run {model.run_id} was made with the weights {clip['pretrained']!r}, which are not here: give --pretrained PATH "
                "(the same checkpoint file, e.g. under /kaggle/input)."
            )
        raise CornkitError(f"--pretrained {options.pretrained}: not the weights Run {model.run_id} was made with ({recorded['pretrained']}).")
    return spec


def _features(images: Images, work: Path, spec: Any, options: PredictParams) -> np.ndarray:
    """CLIP features of the images: the work folder's cache when it holds this dataset's, else embedded now (only these images)."""
    from ..clip.features import cached_features, encode_images
    from ..clip.model import load_clip

    if images.dataset is not None:
        cached = cached_features(images.dataset, work, spec)
        if cached is not None:
            return cached.rows("test", images.ids)
    clip = load_clip(spec, options.device)
    return encode_images(clip, images.paths, batch_size=options.batch_size, num_workers=options.workers, desc="predict")


def _predict_features(model: SavedModel, images: Images, work: Path, options: PredictParams) -> np.ndarray:
    fold_models = model.load(FEATURE_MODEL_FILE)
    features = _features(images, work, _clip_spec(model, options), options)
    return np.mean([fold.predict_proba(features) for fold in fold_models], axis=0)


def _predict_learners(model: SavedModel, images: Images, work: Path, options: PredictParams) -> np.ndarray:
    from ..train.predict import predict_with_networks

    details = model.details
    if "networks" not in details:
        raise CornkitError(
            f"Run {model.run_id} keeps its fine-tuned models as pickled fastai learners (an older cornkit), which `cornkit predict` "
            "no longer loads: train the Run again to save them as safetensors weights."
        )
    networks: Sequence[tuple[Path, Path]] = [(model.path(n["weights"]), model.path(n["config"])) for n in details["networks"]]
    return predict_with_networks(networks, images.ids, images.paths, device=options.device, store=_training_store(details, images, work))


def _training_store(details: dict[str, Any], images: Images, work: Path) -> Any:
    """The image store a fine-tune was made from, for a competition folder's test set: reused (or built) as training did it."""
    recorded = details.get("image_store")
    if images.dataset is None or details.get("clip_preprocess") is not None or not recorded:
        return None
    from ..data.image_store import open_store, store_root
    from ..train.store_data import pad_recipe_of_side

    root = store_root("auto", work)
    return None if root is None else open_store(images.dataset, pad_recipe_of_side(int(recorded["recipe"]["size"])), root)

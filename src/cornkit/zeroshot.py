"""The zero-shot head: class probabilities from CLIP image features and prompt text alone.

The text side is open_clip's own ``build_zero_shot_classifier`` (templates averaged per name,
normalised). With several names per class, ``combine="mean"`` averages a class's name columns
into one; ``combine="max"`` scores a class by its best name. Probabilities are the softmax of
the model's scaled logits, ``logit_scale * features @ classifier``, as CLIP itself does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from open_clip import build_zero_shot_classifier

from .clip_model import ClipSpec, LoadedClip, load_clip
from .dataset import Dataset
from .features import FeatureSet, extract_features
from .prompts import PromptSet
from .runs import Run, make_run, save_run
from .split import Split


@dataclass(frozen=True)
class ZeroShotClassifier:
    """Text embeddings as classifier columns, and which class each column belongs to."""

    weights: np.ndarray
    column_class: np.ndarray
    combine: str
    logit_scale: float

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for L2-normalised image ``features`` (rows)."""
        logits = self.logit_scale * (features.astype(np.float64) @ self.weights)
        n_classes = int(self.column_class.max()) + 1
        if self.combine == "max":
            logits = np.stack([logits[:, self.column_class == k].max(axis=1) for k in range(n_classes)], axis=1)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()


def build_classifier(clip: LoadedClip, prompt_set: PromptSet, classes: Sequence[str]) -> ZeroShotClassifier:
    """Embed every (template, name) of ``prompt_set`` with open_clip and arrange by class."""
    flat_names = [name for cls in classes for name in prompt_set.names[cls]]
    column_class = np.array([k for k, cls in enumerate(classes) for _ in prompt_set.names[cls]])
    weights = (
        build_zero_shot_classifier(clip.model, clip.tokenizer, flat_names, list(prompt_set.templates), device=clip.device)
        .float()
        .cpu()
        .numpy()
        .astype(np.float64)
    )
    if prompt_set.combine == "mean":
        weights = np.stack([weights[:, column_class == k].mean(axis=1) for k in range(len(classes))], axis=1)
        weights /= np.linalg.norm(weights, axis=0, keepdims=True)
        column_class = np.arange(len(classes))
    return ZeroShotClassifier(weights=weights, column_class=column_class, combine=prompt_set.combine, logit_scale=clip.logit_scale)


def zeroshot_from_features(
    features: FeatureSet,
    classifier: ZeroShotClassifier,
    dataset: Dataset,
    split: Split,
    spec: ClipSpec,
    prompt_set: PromptSet,
) -> Run:
    """A zero-shot Run on the split's evaluation rows and the test rows (nothing is trained)."""
    val_ids = split.evaluation_ids()
    labels = split.frame.set_index("seed_id").loc[val_ids, "label"].astype(str).to_numpy()
    return make_run(
        approach="zeroshot",
        model=spec.label,
        classes=dataset.classes,
        val_ids=val_ids,
        val_labels=labels,
        val_probs=classifier.predict_proba(features.rows("train", val_ids)),
        test_ids=features.test_ids,
        test_probs=classifier.predict_proba(features.test),
        config={
            "clip": spec.identity(),
            "random_weights": spec.is_random,
            "features": features.key,
            "split_id": split.split_id,
            "prompts": prompt_set.as_config(),
        },
    )


def run_zeroshot(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    spec: ClipSpec,
    prompt_set: PromptSet,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
) -> Run:
    """Extract (or load) features, build the text classifier, save and return the zero-shot Run."""
    clip = load_clip(spec, device)
    features = extract_features(dataset, work, spec, batch_size=batch_size, num_workers=num_workers, clip=clip)
    run = zeroshot_from_features(features, build_classifier(clip, prompt_set, dataset.classes), dataset, split, spec, prompt_set)
    save_run(run, work)
    return run

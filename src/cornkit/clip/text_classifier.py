"""Zero-shot classifier weights from a prompt set: the text side of CLIP, one column per class name.

The text side is open_clip's own ``build_zero_shot_classifier`` (templates averaged per name,
normalised). With several names per class, ``combine="mean"`` averages a class's name columns
into one; ``combine="max"`` scores a class by its best name. Logits are the model's scaled
cosine similarities, ``logit_scale * features @ weights``, and probabilities their softmax, as
CLIP itself does. Heads that mix with zero-shot (GDA, Tip-Adapter, the blended probe) add to
these logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from open_clip import build_zero_shot_classifier
from scipy.special import softmax

from .model import LoadedClip
from .prompts import PromptSet


@dataclass(frozen=True)
class ZeroShotClassifier:
    """Text embeddings as classifier columns, and which class each column belongs to."""

    weights: np.ndarray
    column_class: np.ndarray
    combine: str
    logit_scale: float

    @property
    def n_classes(self) -> int:
        return int(self.column_class.max()) + 1

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Class logits of L2-normalised image ``features`` (rows), in float64."""
        logits = self.logit_scale * (features.astype(np.float64) @ self.weights)
        if self.combine == "max":
            logits = np.stack([logits[:, self.column_class == k].max(axis=1) for k in range(self.n_classes)], axis=1)
        return logits

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities of L2-normalised image ``features`` (rows)."""
        return softmax(self.logits(features), axis=1)


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

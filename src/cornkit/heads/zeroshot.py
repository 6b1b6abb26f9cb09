"""The zero-shot head: class probabilities from CLIP image features and prompt text alone.

Nothing is trained: the prompt set (``--prompts`` file, ``--prompt-set`` name) becomes a text
classifier (:mod:`cornkit.clip.text_classifier`) applied to the cached image features. The
heads that mix with zero-shot (GDA, Tip-Adapter, the blended probe) start from the same
classifier (``task.zeroshot``), so their ``--alpha 0`` is this Run exactly.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .on_features import FeatureTask, Fitted
from .registry import Head, KernelRecipe

if TYPE_CHECKING:
    from ..runs.run import Run


def fit_zeroshot(task: FeatureTask, args: argparse.Namespace) -> Fitted:
    """No fitting: the text classifier's probabilities of the eval rows."""
    return Fitted(task.zeroshot.predict_proba(task.eval_features))


def _describe(run: Run) -> str:
    prompts = run.config["prompts"]
    return f"prompt set {prompts['name']!r} ({len(prompts['templates'])} templates, combine={prompts['combine']})"


HEAD = Head(
    name="zeroshot",
    help="zero-shot CLIP Run from a prompt set",
    fit_features=fit_zeroshot,
    kernel=KernelRecipe(
        title="cornkit CLIP zero-shot",
        explanation=(
            "A CLIP model compares each kernel photo with text prompts, one set per class "
            "(pure, broken, discolored, silkcut), and predicts the closest class. No training: "
            "it shows how far a general vision-language model gets on corn kernels."
        ),
        model="ViT-H-14",
        pretrained="laion2b_s32b_b79k",
    ),
    rank=10,
    describe=_describe,
)

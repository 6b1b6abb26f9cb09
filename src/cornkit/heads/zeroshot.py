"""The zero-shot head: class probabilities from CLIP image features and prompt text alone.

Nothing is trained: the prompt set (``prompts`` file, ``prompt_set`` name) becomes a text
classifier (:mod:`cornkit.clip.text_classifier`) applied to the cached image features; that
classifier is the fitted model the Run keeps. The heads that mix with zero-shot (GDA,
Tip-Adapter, the blended probe) start from the same classifier (``task.zeroshot``), so their
``alpha=0`` is this Run exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .on_features import FeatureHeadParams, FeatureTask, Fitted
from .registry import Head

if TYPE_CHECKING:
    from ..runs.run import Run


def fit_zeroshot(task: FeatureTask, params: FeatureHeadParams) -> Fitted:
    """No fitting: the text classifier is the model."""
    return Fitted(task.zeroshot)


def _describe(run: Run) -> str:
    prompts = run.config["prompts"]
    return f"prompt set {prompts['name']!r} ({len(prompts['templates'])} templates, combine={prompts['combine']})"


HEAD = Head(name="zeroshot", help="zero-shot CLIP Run from a prompt set", params=FeatureHeadParams, fit=fit_zeroshot, rank=10, describe=_describe)

"""The zero-shot head: class probabilities from CLIP image features and prompt text alone.

Nothing is trained: the prompt set (``--prompts`` file, ``--prompt-set`` name) becomes a text
classifier (:mod:`cornkit.clip.text_classifier`) applied to the cached image features. The
heads that mix with zero-shot (GDA, Tip-Adapter, the blended probe) start from the same
classifier through :func:`zeroshot_parts`, so their ``--alpha 0`` is this Run exactly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .registry import Head, HeadContext, KernelRecipe

if TYPE_CHECKING:
    import torch

    from ..clip.features import FeatureSet
    from ..clip.model import ClipSpec
    from ..clip.prompts import PromptSet
    from ..clip.text_classifier import ZeroShotClassifier
    from ..data.dataset import Dataset
    from ..data.split import Split
    from ..runs.run import Run

APPROACH = "zeroshot"


def add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prompts`` and ``--prompt-set``: the text side of every head that starts from zero-shot."""
    parser.add_argument("--prompts", type=Path, help="TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")
    parser.add_argument("--prompt-set", help="set name in the prompt file (default: the file's default)")


@dataclass(frozen=True)
class ZeroShotParts:
    """What a zero-shot Run is made of: the features, the prompt set and its text classifier."""

    features: FeatureSet
    prompt_set: PromptSet
    classifier: ZeroShotClassifier

    def config(self, spec: ClipSpec) -> dict[str, Any]:
        """The Run-config entries that identify the zero-shot side (model, weights, features, prompts)."""
        return {"clip": spec.identity(), "random_weights": spec.is_random, "features": self.features.key, "prompts": self.prompt_set.as_config()}


def zeroshot_parts(ctx: HeadContext) -> ZeroShotParts:
    """Load the model once for the text classifier and the (cached) image features."""
    from ..clip.model import load_clip
    from ..clip.prompts import load_prompt_file
    from ..clip.text_classifier import build_classifier

    prompt_set = load_prompt_file(ctx.args.prompts, ctx.dataset.classes).get(ctx.args.prompt_set)
    clip = load_clip(ctx.clip_spec, ctx.args.device)
    return ZeroShotParts(ctx.features(clip), prompt_set, build_classifier(clip, prompt_set, ctx.dataset.classes))


def zeroshot_from_parts(parts: ZeroShotParts, dataset: Dataset, split: Split, spec: ClipSpec, seed: int) -> Run:
    """A zero-shot Run on the split's evaluation rows and the test rows (nothing is trained)."""
    from ..runs.run import make_run

    return make_run(
        approach=APPROACH,
        model=spec.label,
        classes=dataset.classes,
        split=split,
        val_probs=parts.classifier.predict_proba(parts.features.rows("train", split.evaluation_ids())),
        test_ids=parts.features.test_ids,
        test_probs=parts.classifier.predict_proba(parts.features.test),
        config=parts.config(spec),
        seed=seed,
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
    seed: int | None = None,
) -> Run:
    """Extract (or load) features, build the text classifier, save and return the zero-shot Run."""
    from ..clip.features import extract_features
    from ..clip.model import load_clip
    from ..clip.text_classifier import build_classifier
    from ..defaults import DEFAULT_SEED
    from ..runs.run import save_run

    clip = load_clip(spec, device)
    features = extract_features(dataset, work, spec, batch_size=batch_size, num_workers=num_workers, clip=clip)
    parts = ZeroShotParts(features, prompt_set, build_classifier(clip, prompt_set, dataset.classes))
    run = zeroshot_from_parts(parts, dataset, split, spec, DEFAULT_SEED if seed is None else seed)
    save_run(run, work)
    return run


def _make_run(ctx: HeadContext) -> Run:
    from ..runs.run import save_run

    run = zeroshot_from_parts(zeroshot_parts(ctx), ctx.dataset, ctx.split, ctx.clip_spec, ctx.seed)
    save_run(run, ctx.work)
    return run


def _describe(run: Run) -> str:
    prompts = run.config["prompts"]
    return f"prompt set {prompts['name']!r} ({len(prompts['templates'])} templates, combine={prompts['combine']})"


HEAD = Head(
    name=APPROACH,
    help="zero-shot CLIP Run from a prompt set",
    make_run=_make_run,
    add_arguments=add_prompt_arguments,
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

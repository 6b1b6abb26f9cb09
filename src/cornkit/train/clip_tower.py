"""The image tower of an open_clip model as a classifier that starts as the zero-shot head.

The head is the prompt set's text classifier (:func:`cornkit.clip.text_classifier.build_classifier`,
the one ``cornkit zeroshot`` uses) with CLIP's logit scale folded into its weights, on top of
L2-normalised image embeddings, as in WiSE-FT's code: before any training the network's logits
are exactly the zero-shot logits. Stochastic depth is added to the residual branches of a ViT
tower with timm's ``DropPath``; layer-wise lr decay groups its blocks like timm's ViTs.
Predictions use open_clip's own evaluation transform, averaged over the four flips with TTA.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from timm.layers import DropPath
from torch import nn

from ..clip.features import FLIP_VIEWS
from ..clip.model import ClipSpec, load_clip
from ..clip.prompts import load_prompt_file
from ..clip.stored import image_batches
from ..clip.text_classifier import build_classifier
from ..data.image_store import ImageStore
from ..errors import CornkitError
from .backbone import Backbone, parameter_groups
from .settings import FinetuneSettings


class ClipClassifier(nn.Module):
    """``visual`` → L2 normalisation → linear head without bias (one column per class name); ``max`` over a class's names if asked."""

    def __init__(self, visual: nn.Module, head_weights: torch.Tensor, column_class: np.ndarray, combine: str):
        super().__init__()
        self.visual = visual
        self.head = nn.Linear(head_weights.shape[1], head_weights.shape[0], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(head_weights)
        self.register_buffer("column_class", torch.as_tensor(column_class, dtype=torch.long), persistent=False)
        self.n_classes = int(column_class.max()) + 1
        self.combine = combine

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.head(F.normalize(self.visual(images), dim=-1))
        if self.combine == "max":
            logits = torch.stack([logits[:, self.column_class == k].amax(dim=1) for k in range(self.n_classes)], dim=1)
        return logits

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm's layer grouping for a ViT tower: patch embedding first, one group per block, the final norm and projection last."""
        return {
            "stem": r"^visual\.(?:class_embedding|positional_embedding|conv1|ln_pre)",
            "blocks": [(r"^visual\.transformer\.resblocks\.(\d+)", None), (r"^visual\.(?:ln_post|proj)", (99999,))],
        }


def add_drop_path(visual: nn.Module, rate: float) -> None:
    """Stochastic depth on each residual branch of a ViT tower, rising linearly to ``rate`` at the last block (as timm does)."""
    if rate == 0:
        return
    if not isinstance(visual, VisionTransformer):
        raise CornkitError(f"--drop-path: this CLIP tower ({type(visual).__name__}) is not a ViT; leave --drop-path 0.")
    blocks = list(visual.transformer.resblocks)
    for block, block_rate in zip(blocks, np.linspace(0, rate, len(blocks)), strict=False):
        block.ls_1 = nn.Sequential(block.ls_1, DropPath(float(block_rate)))
        block.ls_2 = nn.Sequential(block.ls_2, DropPath(float(block_rate)))


def clip_backbone(settings: FinetuneSettings, classes: Sequence[str]) -> Backbone:
    """The tower of ``clip:MODEL`` with the zero-shot head of the chosen prompt set, and open_clip's eval transform."""
    clip = load_clip(ClipSpec(settings.arch, settings.weights), device="cpu")
    prompt_set = load_prompt_file(Path(settings.prompts) if settings.prompts else None, tuple(classes)).get(settings.prompt_set)
    zeroshot = build_classifier(clip, prompt_set, classes)
    head = torch.as_tensor((zeroshot.weights * zeroshot.logit_scale).T, dtype=torch.float32)
    visual = cast(nn.Module, clip.model.visual)
    if settings.llrd < 1 and not isinstance(visual, VisionTransformer):
        raise CornkitError(f"--llrd: layer-wise lr decay groups ViT blocks; this CLIP tower is a {type(visual).__name__}. Leave --llrd 1.")
    add_drop_path(visual, settings.drop_path)
    model = ClipClassifier(visual, head, zeroshot.column_class, zeroshot.combine)
    groups, scales = parameter_groups(model, ["head"], settings.llrd, settings.body_lr_mult)
    cfg = open_clip.get_model_preprocess_cfg(clip.model)
    size = int(np.atleast_1d(cfg["size"])[-1])
    if settings.size is not None and settings.size != size:
        raise CornkitError(f"--size {settings.size}: the {settings.arch} tower takes {size}-pixel images; leave --size out.")
    return Backbone(
        model=model,
        size=size,
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        group_names=groups,
        lr_scales=scales,
        preprocess=clip.preprocess,
        info={"prompts": prompt_set.as_config(), "preprocess_cfg": dict(cfg)},
    )


@torch.inference_mode()
def predict_clip(
    model: nn.Module, paths: Sequence[Path], preprocess: Any, *, tta: bool, device: torch.device, batch_size: int, store: ImageStore | None = None
) -> np.ndarray:
    """Class probabilities of ``paths`` through open_clip's eval transform (from ``store`` when it holds them), averaged over the four flips when ``tta``."""
    model.eval().to(device)
    chunks = []
    for batch in image_batches(paths, preprocess, batch_size=batch_size, device=device, store=store):
        views = FLIP_VIEWS if tta else ((),)
        probs = [model(batch.flip(dims) if dims else batch).float().softmax(dim=1) for dims in views]
        chunks.append(torch.stack(probs).mean(dim=0).cpu())
    return torch.cat(chunks).numpy()

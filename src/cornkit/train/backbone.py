"""The network to fine-tune: a timm model with a fresh head, or a CLIP image tower with the zero-shot head.

:func:`make_backbone` returns a :class:`Backbone`: the ``nn.Module`` (images in, class logits
out), its input size and normalisation, its parameter groups (body blocks bottom-up with their
learning-rate scales, the head last, as fastai's splitter wants them) and, for a CLIP tower,
open_clip's own evaluation transform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from ..data.image_store import ImageStore
from ..errors import CornkitError
from ..hub import offline_error, require_hub
from .settings import FinetuneSettings

log = logging.getLogger(__name__)


@dataclass
class Backbone:
    """A classifier network and what training and prediction need to know about it."""

    model: nn.Module
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    group_names: list[list[str]]
    lr_scales: np.ndarray
    preprocess: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    preprocessed: ImageStore | None = None
    """The image store of ``preprocess``'s PIL steps (a CLIP tower's predictions read it), when there is one."""


class ParamGroups:
    """fastai's splitter: the model's parameters in the named groups (picklable, so the exported learner loads)."""

    def __init__(self, group_names: Sequence[Sequence[str]]):
        self.group_names = [list(names) for names in group_names]

    def __call__(self, model: nn.Module) -> list[list[nn.Parameter]]:
        params = dict(model.named_parameters())
        return [[params[name] for name in names] for names in self.group_names]


def parameter_groups(model: nn.Module, head_prefixes: Sequence[str], llrd: float, body_lr_mult: float) -> tuple[list[list[str]], np.ndarray]:
    """Body parameters grouped by layer-wise lr scale (timm's ``param_groups_layer_decay``), lowest first, then the head.

    Returns the parameter names of each group and the learning-rate scale of each group: the
    head trains at the base rate, the body at ``body_lr_mult`` times the layer-decay scale.
    """
    from timm.optim import param_groups_layer_decay

    def in_head(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in head_prefixes)

    names = [name for name, param in model.named_parameters() if param.requires_grad]
    scale_of = {name: 1.0 for name in names}
    if llrd < 1:
        by_param = {id(param): name for name, param in model.named_parameters()}
        for group in param_groups_layer_decay(model, weight_decay=0.0, layer_decay=llrd):
            for param in group["params"]:
                scale_of[by_param[id(param)]] = float(group["lr_scale"])
    body_scales = sorted({scale_of[name] for name in names if not in_head(name)})
    groups = [[name for name in names if not in_head(name) and scale_of[name] == scale] for scale in body_scales]
    groups.append([name for name in names if in_head(name)])
    if not groups[-1]:
        raise CornkitError(f"found no classifier parameters under {list(head_prefixes)}; this backbone cannot be fine-tuned by cornkit.")
    scales = np.array([body_lr_mult * scale for scale in body_scales] + [1.0])
    return groups, scales


def timm_weights_hint(arch: str) -> str:
    return (
        f"Pass a local timm checkpoint instead: --pretrained /path/to/model.safetensors (from the hub repo timm/{arch}; "
        "on Kaggle attach it as a dataset or model and point at the file under /kaggle/input), or --pretrained none for random weights."
    )


def announce_weights(settings: FinetuneSettings) -> None:
    """Flag random timm weights loudly (open_clip's loader flags its own); fail fast when hub weights cannot be fetched."""
    if settings.is_clip:
        return
    if settings.is_random:
        log.warning("%s has RANDOM weights (--pretrained none): fine for tests and the demo, far below a pretrained backbone for a submission.", settings.arch)
    elif settings.is_hub:
        require_hub(f"timm weights of {settings.arch}", timm_weights_hint(settings.arch))


def _create(settings: FinetuneSettings, create: Callable[..., Any], **options: Any) -> Any:
    """Call a timm model factory with ``drop_path`` and the weights of ``settings``, turning its failures into what to do."""
    options["drop_path_rate"] = settings.drop_path
    if settings.is_file:
        options["pretrained_cfg_overlay"] = {"file": str(Path(settings.weights).resolve())}
    try:
        return create(settings.arch, pretrained=not settings.is_random, **options)
    except TypeError as error:
        raise CornkitError(f"--drop-path: {settings.arch} takes no drop_path_rate ({error}); leave --drop-path 0.") from error
    except (OSError, RuntimeError, ValueError) as error:
        if settings.is_file:
            raise CornkitError(f"--pretrained {settings.weights}: not a timm checkpoint for {settings.arch} ({error}).") from error
        if settings.is_hub:
            raise offline_error(f"timm weights of {settings.arch}", timm_weights_hint(settings.arch), error) from error
        raise


def timm_backbone(settings: FinetuneSettings, n_classes: int) -> Backbone:
    """``timm.create_model`` with ``n_classes`` outputs (the model's own classifier head)."""
    model = _create(settings, timm.create_model, num_classes=n_classes)
    cfg: dict[str, Any] = dict(model.pretrained_cfg)
    classifier = cfg.get("classifier") or "head"
    head_prefixes = [classifier] if isinstance(classifier, str) else list(classifier)
    groups, scales = parameter_groups(model, head_prefixes, settings.llrd, settings.body_lr_mult)
    size = settings.size or int(cfg.get("input_size", (3, 224, 224))[-1])
    return Backbone(model=model, size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), group_names=groups, lr_scales=scales)


def fastai_head_backbone(settings: FinetuneSettings, n_classes: int) -> Backbone:
    """fastai's ``create_timm_model``: the timm body with fastai's head (concat pooling, batch norm, dropout, two linear layers).

    The ``convnext`` command's head, as ``vision_learner`` built it: from random weights it learns
    far sooner than a bare linear classifier.
    """
    from fastai.vision.learner import create_timm_model

    model, cfg = _create(settings, lambda arch, pretrained, **options: create_timm_model(arch, n_classes, pretrained=pretrained, **options))
    groups, scales = parameter_groups(model, ["1"], 1.0, settings.body_lr_mult)
    size = settings.size or int(cfg.get("input_size", (3, 224, 224))[-1])
    return Backbone(model=model, size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), group_names=groups, lr_scales=scales)


def make_backbone(settings: FinetuneSettings, classes: Sequence[str]) -> Backbone:
    """The network of ``settings.backbone`` for ``classes`` (the same random weights for ``none`` on every call)."""
    if settings.is_clip:
        from .clip_tower import clip_backbone

        return clip_backbone(settings, classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        build = fastai_head_backbone if settings.head == "fastai" else timm_backbone
        return build(settings, len(classes))

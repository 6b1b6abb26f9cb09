"""A fine-tuned network written and rebuilt without pickle: its weights as safetensors, what builds it as JSON.

Each fold of a fine-tune keeps ``network-fold<K>.safetensors`` (the model's ``state_dict``,
tensors only) and ``network-fold<K>.json``: the backbone and head, the input size, the class
order, the normalisation, the augmentation strengths, the id column, whether the images came
from the image store, and what a prediction does (TTA, batch size, seed; a CLIP tower's
open_clip preprocessing and zero-shot head layout). :func:`load_network` builds the same
architecture from random weights (nothing is fetched from a hub) and loads the weights
strictly; :func:`network_learner` puts it in a fastai ``Learner`` on the DataBlock of
:func:`.data.image_block`, so it predicts through the very pipeline the Run predicted with.
No file is unpickled on the way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..atomic import write_json
from ..data.image_store import ImageStore
from ..errors import CornkitError
from .backbone import Backbone, make_backbone
from .data import augment_settings, image_block, loader_workers
from .recipe import RecipeLoss
from .settings import FinetuneSettings
from .store_data import StoreRows, store_dataloaders

NETWORK_FORMAT = 1
"""The layout of ``network-fold<K>.json``; another one is refused, never guessed at."""


def weights_name(fold: int) -> str:
    return f"network-fold{fold}.safetensors"


def config_name(fold: int) -> str:
    return f"network-fold{fold}.json"


def network_config(
    settings: FinetuneSettings, backbone: Backbone, classes: Sequence[str], id_column: str, image_store: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything that rebuilds the network of ``backbone`` and its input pipeline (JSON-ready)."""
    config: dict[str, Any] = {
        "format": NETWORK_FORMAT,
        "backbone": settings.backbone,
        "head": settings.head,
        "size": backbone.size,
        "drop_path": settings.drop_path,
        "pretrained": settings.weights_identity(),  # what training started from (a record: the rebuild starts from random weights)
        "classes": list(classes),
        "mean": list(backbone.mean),
        "std": list(backbone.std),
        "augment": augment_settings(settings),
        "id_column": id_column,
        "image_store": image_store,
        "tta": settings.tta,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "clip": None,
    }
    if settings.is_clip:
        from open_clip.transformer import QuickGELU

        model = backbone.model
        head: nn.Linear = model.head  # type: ignore[assignment]
        config["clip"] = {
            "preprocess": backbone.info.get("preprocess_cfg"),
            "head_shape": list(head.weight.shape),
            "column_class": [int(k) for k in model.column_class.tolist()],  # type: ignore[operator]
            "combine": model.combine,
            "quick_gelu": any(isinstance(m, QuickGELU) for m in model.modules()),
        }
    return config


def tensors_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` as safetensors takes it: on the CPU, contiguous, no two entries sharing memory."""
    return {name: value.detach().to("cpu").clone(memory_format=torch.contiguous_format) for name, value in model.state_dict().items()}


def save_network(model: nn.Module, config: dict[str, Any], folder: Path, fold: int) -> tuple[Path, Path]:
    """Write fold ``fold``'s weights (safetensors) and network config (JSON) into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    weights, description = folder / weights_name(fold), folder / config_name(fold)
    save_file(tensors_of(model), str(weights), metadata={"format": "cornkit-network", "fold": str(fold)})
    write_json(description, config)
    return weights, description


def read_config(path: Path) -> dict[str, Any]:
    """A network config written by :func:`save_network`, its format checked."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CornkitError(f"{path} cannot be read ({error}); make the Run again.") from error
    if not isinstance(config, dict) or config.get("format") != NETWORK_FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise CornkitError(f"{path}: network format {found!r}, but this cornkit reads format {NETWORK_FORMAT}; make the Run again with this version.")
    return config


def rebuild_settings(config: dict[str, Any]) -> FinetuneSettings:
    """The settings that build the recorded network's architecture, with random weights (no hub, no checkpoint file)."""
    return dataclasses.replace(
        FinetuneSettings(),
        backbone=config["backbone"],
        pretrained="none",
        head=config["head"],
        size=int(config["size"]),
        drop_path=float(config["drop_path"]),
        seed=int(config["seed"]),
    )


def clip_structure(settings: FinetuneSettings, clip: dict[str, Any]) -> nn.Module:
    """A CLIP tower classifier of the recorded shape: open_clip's architecture with random weights, an empty zero-shot head (no prompts, no hub)."""
    import open_clip

    from ..clip.model import register_tiny_model
    from .clip_tower import ClipClassifier, add_drop_path

    register_tiny_model()
    model = open_clip.create_model(settings.arch, pretrained=None, device="cpu", force_quick_gelu=bool(clip["quick_gelu"]))
    visual: nn.Module = model.visual
    add_drop_path(visual, settings.drop_path)
    head = torch.zeros(*[int(n) for n in clip["head_shape"]])
    return ClipClassifier(visual, head, np.asarray(clip["column_class"], dtype=np.int64), str(clip["combine"]))


def load_network(weights: Path, config: dict[str, Any]) -> nn.Module:
    """The recorded network, built from random weights and given the saved ones (every key, every shape)."""
    settings = rebuild_settings(config)
    clip = config.get("clip")
    model = make_backbone(settings, config["classes"]).model if clip is None else clip_structure(settings, clip)
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as error:
        raise CornkitError(f"{weights} does not fit the network its config describes ({str(error).splitlines()[0]}); make the Run again.") from error
    return model.eval()


def saved_keys(weights: Path) -> list[str]:
    """The tensor names in a safetensors file (read without loading anything else)."""
    with safe_open(str(weights), framework="pt") as opened:
        return list(opened.keys())


def network_dataloaders(config: dict[str, Any], frame: pd.DataFrame, device: torch.device, store: ImageStore | None = None) -> DataLoaders:
    """The DataLoaders the network was trained with, on ``frame``'s rows (labels need not be known: they are never read).

    With the image store recorded they are the store's (``store`` attached when given, image
    files pad-resized as the store did otherwise), as training built them.
    """
    classes = list(config["classes"])
    rows = StoreRows(store) if config.get("image_store") else None
    block = image_block(classes, int(config["size"]), config["mean"], config["std"], dict(config["augment"]), str(config["id_column"]), rows)
    frame = frame.assign(label=classes[0], is_valid=False)  # fastai sets its pipeline up on a training row (the first image is read)
    options: dict[str, Any] = {"bs": int(config["batch_size"]), "device": device, "num_workers": loader_workers(device)}
    if rows is not None:
        return store_dataloaders(block, frame, rows, None, **options)
    return block.dataloaders(frame, **options)


def network_learner(weights: Path, config: dict[str, Any], frame: pd.DataFrame, device: torch.device | str = "cpu", store: ImageStore | None = None) -> Learner:
    """A fastai ``Learner`` of the saved network on :func:`network_dataloaders` (``get_preds``, ``tta`` and ``predict`` work as on the trained one)."""
    device = torch.device(device)
    model = load_network(weights, config)
    return Learner(network_dataloaders(config, frame, device, store), model, loss_func=RecipeLoss())


def run_fold_learner(folder: Path, fold: int, frame: pd.DataFrame, device: torch.device | str = "cpu") -> Learner:
    """Fold ``fold``'s network in a Run folder as a fastai ``Learner`` (``frame``: image rows, ``id`` and ``path``, one at least)."""
    config = read_config(folder / config_name(fold))
    return network_learner(folder / weights_name(fold), config, frame, device)

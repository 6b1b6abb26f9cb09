"""Predict images with a fine-tuned Run's saved networks, the way the Run predicted its own test set.

Each fold's network is rebuilt from its JSON config with random weights and given its
safetensors weights (:mod:`.saved_network`; :mod:`cornkit.runs.model` has checked both files'
hashes first): nothing is unpickled. It predicts the images with the Run's TTA setting after
seeding exactly as training seeded its test prediction, so the same images get the same
augmentations; the folds' probabilities are averaged, as the Run's ``test_probs.csv`` was. A
CLIP tower predicts through open_clip's eval transform, rebuilt from the preprocessing config
the Run recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fastai.torch_core import set_seed

from ..clip.model import default_device
from ..data.image_store import ImageStore
from .clip_tower import predict_clip
from .learner import predict_probs
from .saved_network import load_network, network_learner, read_config


def clip_eval_transform(preprocess: dict[str, Any]) -> Any:
    """open_clip's eval transform for a recorded preprocessing config (JSON lists back to tuples)."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    config = {key: tuple(value) if isinstance(value, list) else value for key, value in preprocess.items()}
    return image_transform_v2(PreprocessCfg(**config), is_train=False)


def predict_with_networks(
    networks: Sequence[tuple[Path, Path]],
    ids: np.ndarray,
    paths: Sequence[Path],
    *,
    device: str | None,
    store: ImageStore | None = None,
) -> np.ndarray:
    """The mean over ``networks`` (one (weights, config) pair per fold) of their probabilities for ``paths``.

    ``store`` is the image store the Run was trained and predicted from: attached to the rebuilt
    DataLoaders, its images go through the very pipeline they went through when the Run was
    made, and TTA draws the same augmentations. Without it the images are read from their files,
    padded as the store did, and predicted within TTA's noise of the Run.
    """
    chosen = torch.device(device) if device is not None else default_device()
    frame = pd.DataFrame({"id": ids, "path": [str(p) for p in paths]})
    probs = []
    for weights, config_file in networks:
        config = read_config(config_file)
        tta, seed, batch_size = bool(config["tta"]), int(config["seed"]), int(config["batch_size"])
        clip = config.get("clip")
        if clip is not None:
            model = load_network(weights, config)
            set_seed(seed, reproducible=True)
            probs.append(predict_clip(model, paths, clip_eval_transform(clip["preprocess"]), tta=tta, device=chosen, batch_size=batch_size))
        else:
            learn = network_learner(weights, config, frame, chosen, store)
            set_seed(seed, reproducible=True)
            probs.append(predict_probs(learn, frame, tta))
    return np.mean(probs, axis=0)

"""Predict images with a fine-tuned Run's exported learners, the way the Run predicted its own test set.

Each fold's learner is loaded with fastai's ``load_learner`` (a pickle: :mod:`cornkit.runs.model`
has checked its hash first) and predicts the images with the Run's TTA setting after seeding
exactly as training seeded its test prediction, so the same images get the same augmentations;
the folds' probabilities are averaged, as the Run's ``test_probs.csv`` was. A CLIP tower
predicts through open_clip's eval transform, rebuilt from the preprocessing config the Run
recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fastai.learner import load_learner
from fastai.torch_core import set_seed

from ..clip.model import default_device
from ..data.image_store import ImageStore
from .clip_tower import predict_clip
from .learner import predict_probs


def clip_eval_transform(preprocess: dict[str, Any]) -> Any:
    """open_clip's eval transform for a recorded preprocessing config (JSON lists back to tuples)."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    config = {key: tuple(value) if isinstance(value, list) else value for key, value in preprocess.items()}
    return image_transform_v2(PreprocessCfg(**config), is_train=False)


def predict_with_learners(
    files: Sequence[Path],
    ids: np.ndarray,
    paths: Sequence[Path],
    *,
    tta: bool,
    seed: int,
    batch_size: int,
    clip_preprocess: dict[str, Any] | None,
    device: str | None,
    store: ImageStore | None = None,
) -> np.ndarray:
    """The mean over ``files`` (one exported learner per fold) of their probabilities for ``paths``.

    ``store`` is the image store the Run was trained and predicted from: attached to the learner
    (which pickles without it), its images go through the very pipeline they went through when
    the Run was made, and TTA draws the same augmentations. Without it the learner reads the
    files, pads them as the store did, and predicts within TTA's noise of the Run.
    """
    chosen = torch.device(device) if device is not None else default_device()
    probs = []
    for file in files:
        learn = load_learner(file, cpu=chosen.type == "cpu")
        set_seed(seed, reproducible=True)
        if clip_preprocess is not None:
            probs.append(predict_clip(learn.model, paths, clip_eval_transform(clip_preprocess), tta=tta, device=chosen, batch_size=batch_size))
        else:
            rows = getattr(learn.dls.valid, "rows", None)
            if store is not None and rows is not None:
                rows.store = store
            frame = pd.DataFrame({"id": ids, "path": [str(p) for p in paths]})
            probs.append(predict_probs(learn, frame, tta))
    return np.mean(probs, axis=0)

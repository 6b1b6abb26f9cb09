"""Choices shared by the API, the CLI and the kernels, in a module that imports nothing heavy.

The CLI builds its parser from these without loading torch, open_clip or fastai; the heads
import the same names, so a default is written down once.
"""

from __future__ import annotations

from pathlib import Path

COMPETITION = "kaggle-pog-series-s01e03"
KAGGLE_INPUT = Path("/kaggle/input")
KERNEL_APPROACHES: tuple[str, ...] = ("convnext", "probe", "zeroshot")
RANDOM_WEIGHTS = "none"
TIMM_HUB = "hub"
CONVNEXT_ARCH = "convnext_small.fb_in22k"
BALANCE_MODES: tuple[str, ...] = ("none", "oversample", "weighted")

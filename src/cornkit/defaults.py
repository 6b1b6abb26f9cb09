"""Defaults shared by the API, the CLI and the kernels, in a module that imports nothing heavy.

The CLI builds its parser from these without loading torch, open_clip or fastai; the heads
import the same names, so a default is written down once.
"""

from __future__ import annotations

from pathlib import Path

COMPETITION = "kaggle-pog-series-s01e03"
KAGGLE_INPUT = Path("/kaggle/input")
DEFAULT_SEED = 42
"""The one seed of everything that draws random numbers (splits, folds, probes, fine-tunes,
weight searches, random weights, the synthetic set); every Run records the seed it used."""
DEFAULT_CLIP_MODEL = "ViT-H-14"
DEFAULT_CLIP_PRETRAINED = "laion2b_s32b_b79k"
"""The CLIP model of the study the kit grew from (its linear probe scored 0.726 private LB): the kernels' default."""
RANDOM_WEIGHTS = "none"
TIMM_HUB = "hub"
CONVNEXT_ARCH = "convnext_small.fb_in22k"
BALANCE_MODES: tuple[str, ...] = ("none", "oversample", "weighted")
STACK_META_MODELS: tuple[str, ...] = ("logreg", "hgb")
"""Level-2 models of ``cornkit stack``: logistic regression (default) or histogram gradient boosting."""
DUPES_THRESHOLD = 0.99
"""Centred cosine similarity from which ``cornkit dupes`` calls two images near-duplicates (an exact copy scores 1)."""
SHOTS = "1,2,4,8,16,all"
SHOTS_REPEATS = 3
PUBLIC_LB_FRACTION = 0.3
"""Share of the test rows the public leaderboard scores (the rest is private), for the report's LB intervals.
An assumption, not a published figure: Kaggle states the share on a competition's leaderboard tab
("calculated with approximately N% of the test data"), and neither COMPETITION.md nor anything else the
kit holds states It's Corn's; 0.3 is the share the synthetic set draws (``data/synth.py``). Check the
competition's page and pass ``cornkit report --public-frac``."""

"""The synthetic corn set: competition layout, reproducible bytes, learnable but not trivial."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

from cornkit.data.dataset import load_dataset
from cornkit.data.synth import CLASSES, make_synthetic_corn
from cornkit.errors import CornkitError


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _hsv_histogram(image: Image.Image) -> np.ndarray:
    """Colour statistics only: fractions of pixels per hue, saturation and value bin."""
    hsv = np.asarray(image.convert("HSV")).reshape(-1, 3)
    return np.concatenate([np.histogram(hsv[:, k], bins=16, range=(0, 256))[0] for k in range(3)]) / len(hsv)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    first = make_synthetic_corn(tmp_path / "a", n_train=24, n_test=6, seed=7).root
    second = make_synthetic_corn(tmp_path / "b", n_train=24, n_test=6, seed=7).root
    other = make_synthetic_corn(tmp_path / "c", n_train=24, n_test=6, seed=8).root
    assert _tree_digest(first) == _tree_digest(second)
    assert _tree_digest(first) != _tree_digest(other)


def test_competition_layout_loads_and_is_imbalanced(corn_dir: Path) -> None:
    dataset = load_dataset(corn_dir)
    assert list(pd.read_csv(corn_dir / "train.csv").columns) == ["seed_id", "view", "image", "label"]
    assert list(pd.read_csv(corn_dir / "test.csv").columns) == ["seed_id", "view", "image"]
    assert list(dataset.train.columns) == ["seed_id", "image", "label"] and list(dataset.test.columns) == ["seed_id", "image"]
    assert set(dataset.classes) == set(CLASSES)
    assert set(pd.read_csv(corn_dir / "train.csv")["view"]) == {"top", "bottom"}
    counts = dataset.train["label"].value_counts()
    assert counts.idxmax() == "pure" and counts.idxmin() == "silkcut"
    sizes = {Image.open(p).size for p in dataset.image_paths("train")[:30]}
    assert len(sizes) > 1 and any(w != h for w, h in sizes)
    solution = pd.read_csv(corn_dir / "solution.csv", dtype=str)
    assert list(solution["seed_id"]) == dataset.ids("test")
    assert set(solution["Usage"]) == {"Public", "Private"}


def test_refuses_to_write_over_an_existing_set(corn_dir: Path) -> None:
    with pytest.raises(CornkitError, match="already holds a competition folder: pick an empty --out folder"):
        make_synthetic_corn(corn_dir, n_train=20, n_test=5)


@pytest.mark.slow
def test_learnable_from_colour_but_not_from_one_pixel(tmp_path: Path) -> None:
    dataset = load_dataset(make_synthetic_corn(tmp_path / "data", n_train=400, n_test=4, seed=3).root)
    images = [Image.open(p).convert("RGB") for p in dataset.image_paths("train")]
    labels = dataset.train["label"].to_numpy()
    pixels = np.stack([np.asarray(im.resize((24, 24))).reshape(-1) for im in images]) / 255
    histograms = np.stack([_hsv_histogram(im) for im in images])
    majority = pd.Series(labels).value_counts(normalize=True).iloc[0]
    one_pixel = cross_val_score(DecisionTreeClassifier(max_depth=1), pixels, labels, cv=4).mean()
    colour = cross_val_score(LogisticRegression(C=100, max_iter=5000), histograms, labels, cv=4).mean()
    assert colour > majority + 0.2  # measured: 0.71 vs majority 0.43
    assert one_pixel < majority + 0.15  # measured: 0.54; no single pixel gives the class away
    assert one_pixel < colour - 0.1

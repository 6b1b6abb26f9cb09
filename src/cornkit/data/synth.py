"""A synthetic corn set in the competition layout, for the demo and the tests.

Real corn photos cannot be downloaded here, so cornkit draws its own: one kernel per image on
a light background, with the four competition classes carrying visible, learnable cues

- ``pure``: a clean kernel (a pale germ on the ``top`` view);
- ``broken``: a chunk missing behind a jagged edge that shows the pale starch inside;
- ``discolored``: brown to dark blotches;
- ``silkcut``: one or two thin dark cut lines across the kernel.

Pose, size, position, colour, lighting and image size vary, so no single pixel gives the
class away, and the classes are imbalanced like the real set. The same seed gives the same
bytes. ``solution.csv`` holds the test labels and a fixed ``Usage`` (Public/Private) column,
as Kaggle keeps it, so local tools can score a submission the way the leaderboard would.

The layouts (:mod:`.synth_layouts`) label and submit the same images the way other
competitions ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..progress import progress
from .dataset import DEFAULT_ID_COLUMN as ID
from .synth_layouts import LAYOUTS, write_layout

CLASSES: tuple[str, ...] = ("pure", "broken", "discolored", "silkcut")
CLASS_WEIGHTS: tuple[float, ...] = (0.46, 0.29, 0.16, 0.09)
VIEWS: tuple[str, ...] = ("top", "bottom")
PUBLIC_FRACTION = 0.3


@dataclass(frozen=True)
class SynthSummary:
    """Where the synthetic set went and how many images of each part it holds."""

    root: Path
    n_train: int
    n_test: int


def _kernel_outline(rng: np.random.Generator, centre: tuple[float, float], length: float) -> np.ndarray:
    """A rotated teardrop polygon: wide crown at one end, narrow tip at the other."""
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    half_length = length / 2
    half_width = half_length * rng.uniform(0.55, 0.8)
    x = half_length * np.cos(t)
    y = half_width * np.sin(t) * (0.72 + 0.28 * np.cos(t))
    x += rng.normal(0, length * 0.008, t.size)
    y += rng.normal(0, length * 0.008, t.size)
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (rot @ np.stack([x, y])).T + np.asarray(centre)


def _polygon_mask(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Rasterise a polygon into a float mask in [0, 1], anti-aliased by 4x supersampling."""
    width, height = size
    big = Image.new("L", (width * 4, height * 4), 0)
    ImageDraw.Draw(big).polygon([tuple(p) for p in points * 4], fill=255)
    return np.asarray(big.resize((width, height), Image.Resampling.BOX), dtype=np.float32) / 255


def _blob(grid_x: np.ndarray, grid_y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """A soft elliptical patch, 1 at its centre fading to 0 at its rim."""
    d = ((grid_x - cx) / rx) ** 2 + ((grid_y - cy) / ry) ** 2
    return np.clip(1.2 - d, 0, 1)


def _inside_point(rng: np.random.Generator, mask: np.ndarray, threshold: float = 0.9) -> tuple[float, float]:
    """A random pixel well inside the kernel."""
    ys, xs = np.nonzero(mask > threshold)
    i = rng.integers(len(xs))
    return float(xs[i]), float(ys[i])


def draw_kernel(rng: np.random.Generator, label: str, view: str) -> Image.Image:
    """Draw one kernel photo of class ``label`` seen from ``view``."""
    width, height = int(rng.integers(96, 150)), int(rng.integers(96, 150))
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)

    background = rng.uniform(0.82, 0.96) * np.ones(3) + rng.normal(0, 0.015, 3)
    light_dir = rng.normal(size=2)
    light = 1 + 0.08 * ((grid_x / width - 0.5) * light_dir[0] + (grid_y / height - 0.5) * light_dir[1])
    image = background[None, None, :] * light[..., None]

    length = rng.uniform(0.55, 0.8) * min(width, height)
    centre = (width / 2 + rng.uniform(-0.1, 0.1) * width, height / 2 + rng.uniform(-0.1, 0.1) * height)
    outline = _kernel_outline(rng, centre, length)
    mask = _polygon_mask((width, height), outline)

    hue_shift = rng.uniform(-0.08, 0.08)
    base = np.array([0.93 + hue_shift / 2, 0.72 + hue_shift, 0.18 + rng.uniform(-0.06, 0.1)])
    radius = np.hypot(grid_x - centre[0], grid_y - centre[1]) / (length / 2)
    kernel = base[None, None, :] * (1.1 - 0.3 * radius**2)[..., None]
    kernel += rng.normal(0, 0.02, kernel.shape)

    crown = outline[np.argmax(np.hypot(*(outline - outline.mean(0)).T))]
    towards_crown = (crown - np.asarray(centre)) * 0.45 + np.asarray(centre)
    if view == "top":
        germ = _blob(grid_x, grid_y, float(towards_crown[0]), float(towards_crown[1]), length * 0.14, length * 0.11)
        kernel = kernel * (1 - 0.6 * germ[..., None]) + 0.6 * germ[..., None] * np.array([0.97, 0.93, 0.75])
    else:
        kernel *= 0.93

    if label == "discolored":
        for _ in range(int(rng.integers(2, 5))):
            cx, cy = _inside_point(rng, mask)
            patch = _blob(grid_x, grid_y, cx, cy, *(length * rng.uniform(0.08, 0.2, 2))) * rng.uniform(0.6, 0.95)
            brown = np.array([0.45, 0.27, 0.12]) * rng.uniform(0.4, 1.1)
            kernel = kernel * (1 - patch[..., None]) + patch[..., None] * brown
    elif label == "silkcut":
        cut = Image.new("L", (width * 4, height * 4), 0)
        for _ in range(int(rng.integers(1, 3))):
            x0, y0 = _inside_point(rng, mask)
            angle = rng.uniform(0, np.pi)
            span = length * rng.uniform(0.25, 0.45)
            bend = rng.normal(0, length * 0.06)
            s = np.linspace(-1, 1, 20)
            xs = x0 + np.cos(angle) * span * s - np.sin(angle) * bend * (1 - s**2)
            ys = y0 + np.sin(angle) * span * s + np.cos(angle) * bend * (1 - s**2)
            ImageDraw.Draw(cut).line(list(zip(xs * 4, ys * 4, strict=True)), fill=255, width=int(rng.integers(4, 8)))
        line = np.asarray(cut.resize((width, height), Image.Resampling.BOX), dtype=np.float32) / 255
        kernel = kernel * (1 - 0.85 * line[..., None]) + 0.85 * line[..., None] * np.array([0.3, 0.18, 0.08])
    elif label == "broken":
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction)
        along = (grid_x - centre[0]) * direction[0] + (grid_y - centre[1]) * direction[1]
        across = -(grid_x - centre[0]) * direction[1] + (grid_y - centre[1]) * direction[0]
        jag = length * (0.04 * np.sin(across / length * rng.uniform(20, 40) + rng.uniform(0, 6)) + 0.02 * np.sign(np.sin(across * 0.9)))
        cut_at = length * rng.uniform(0.1, 0.3)
        beyond = along + jag - cut_at
        mask = mask * np.clip(1 - beyond, 0, 1)
        starch = np.clip(1 - np.abs(beyond + length * 0.06) / (length * 0.07), 0, 1) * (mask > 0.5)
        kernel = kernel * (1 - starch[..., None]) + starch[..., None] * np.array([0.96, 0.94, 0.84])

    shadow = (
        np.asarray(
            Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(length * 0.05)),
            dtype=np.float32,
        )
        / 255
    )
    image *= 1 - 0.18 * np.roll(shadow, (2, 2), axis=(0, 1))[..., None]
    image = image * (1 - mask[..., None]) + kernel * mask[..., None]
    image += rng.normal(0, 0.012, image.shape)
    return Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))


def _draw_part(rng: np.random.Generator, out: Path, part: str, seed_ids: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Draw the images of one part (train or test) and return its rows."""
    (out / part).mkdir(parents=True, exist_ok=True)
    rows = []
    with progress(f"synth {part}", len(labels), "img") as advance:
        for i, (seed_id, label) in enumerate(zip(seed_ids, labels, strict=True)):
            view = VIEWS[int(rng.integers(2))]
            image_path = f"{part}/{i:05d}.png"
            draw_kernel(rng, label, view).save(out / image_path)
            rows.append({ID: int(seed_id), "view": view, "image": image_path, "label": label})
            advance(1)
    return pd.DataFrame(rows)


def make_synthetic_corn(out: str | Path, n_train: int = 800, n_test: int = 200, seed: int = DEFAULT_SEED, layout: str = "corn") -> SynthSummary:
    """Write a synthetic corn set in one of the :data:`~.synth_layouts.LAYOUTS` under ``out``.

    ``train.csv`` (seed_id, view, image, label), ``test.csv`` (seed_id, view, image),
    ``sample_submission.csv`` (seed_id and the layout's value columns), ``train/`` and
    ``test/`` PNGs, and ``solution.csv`` (seed_id, label, Usage) with the test labels.
    Every layout draws the same images for the same seed; ``corn``'s files are It's Corn's, the
    others file and name them as :mod:`.synth_layouts` says.
    """
    if layout not in LAYOUTS:
        raise CornkitError(f"--layout {layout!r}: give one of {', '.join(LAYOUTS)}.")
    if n_train < 4 * len(CLASSES) or n_test < 1:
        raise CornkitError(f"--n-train must be at least {4 * len(CLASSES)} and --n-test at least 1 (got {n_train}, {n_test}).")
    out = Path(out)
    if (out / "sample_submission.csv").exists() or (out / "train.csv").exists():
        raise CornkitError(f"{out} already holds a competition folder: pick an empty --out folder.")
    rng = np.random.default_rng(seed)
    total = n_train + n_test
    labels = list(rng.choice(CLASSES, size=total, p=CLASS_WEIGHTS))
    for k, name in enumerate(CLASSES):
        labels[k] = name  # every class appears in train, whatever the sample
    seed_ids = rng.permutation(np.arange(1000, 1000 + total * 3))[:total]

    train = _draw_part(rng, out, "train", seed_ids[:n_train], labels[:n_train])
    test_rows = _draw_part(rng, out, "test", seed_ids[n_train:], labels[n_train:])
    usage = np.where(rng.random(n_test) < PUBLIC_FRACTION, "Public", "Private")
    write_layout(out, train, test_rows, list(usage), CLASSES, layout)
    return SynthSummary(root=out, n_train=n_train, n_test=n_test)

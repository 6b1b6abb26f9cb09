"""Pictures where pictures beat numbers, for every family of the kit: confusion matrix, contact sheets, bar charts,
the val-vs-LB scatter, the few-shot curve, the WiSE-FT curve.

A neutral module: it draws what it is given (arrays, decoded images) and reads no data of its own.

Matplotlib draws on the Agg backend so it works on a headless machine and in CI; every
figure is written atomically and closed, so long loops do not leak memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay

from .atomic import atomic_path


def save_png(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` whole (atomically) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def confusion_png(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> Path:
    """The confusion matrix as counts, true class down, predicted class across."""
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.2 * len(classes) + 2))
    ConfusionMatrixDisplay(matrix, display_labels=list(classes)).plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(title)
    return save_png(fig, path)


def contact_sheet_png(images: Sequence[Any], captions: Sequence[str], path: Path, title: str, columns: int = 6, empty: str = "no misclassified images") -> Path:
    """A grid of decoded images with a caption over each (misclassified validation rows; near-duplicate pairs); ``empty`` is said when there are none."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat[: len(images)], images, captions, strict=True):
        ax.imshow(image)
        ax.set_title(caption, fontsize=8)
    if not images:
        axes.flat[0].text(0.5, 0.5, empty, ha="center", va="center")
    fig.suptitle(title)
    return save_png(fig, path)


def bar_chart_png(names: Sequence[str], values: Sequence[float], path: Path, title: str, xlabel: str, reference: float | None = None) -> Path:
    """Horizontal bars, best at the top; ``reference`` draws a dashed line (e.g. chance level)."""
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.5))
    ax.barh([names[i] for i in order], [values[i] for i in order], color="#4c72b0")
    for y, i in enumerate(order):
        ax.text(values[i], y, f" {values[i]:.3f}", va="center", fontsize=8)
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1, label=f"majority class {reference:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return save_png(fig, path)


def val_vs_lb_png(table: pd.DataFrame, path: Path) -> Path:
    """Local validation accuracy against public LB, one colour per approach, with the y = x line."""
    scored = table.dropna(subset=["val_accuracy", "public_lb"])
    fig, ax = plt.subplots(figsize=(6, 5))
    for approach, group in scored.groupby("approach", sort=True):
        ax.scatter(group["val_accuracy"], group["public_lb"], label=approach, s=40)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="LB = validation")
    if scored.empty:
        ax.text(0.5, 0.5, "no submission has both a validation\nand a public LB score yet", ha="center", va="center")
    ax.set_xlim(0, 1.03)  # room for markers at 1.0
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("local validation accuracy")
    ax.set_ylabel("public LB accuracy")
    ax.set_title("Does the validation split predict the leaderboard?")
    ax.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def few_shot_png(
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    reference: float,
    ticks: tuple[Sequence[float], Sequence[str]],
    path: Path,
    title: str,
) -> Path:
    """Validation accuracy against labels per class (log axis), mean ± spread per head, the zero-shot line flat.

    ``curves`` maps a head to (x, mean, spread); ``reference`` is the zero-shot accuracy, which
    uses no labels and is drawn across the whole axis.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axhline(reference, color="grey", linestyle="--", linewidth=1.2, label=f"zero-shot (no labels) {reference:.3f}")
    for head, (x, mean, spread) in curves.items():
        ax.plot(x, mean, marker="o", label=head)
        ax.fill_between(x, mean - spread, mean + spread, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(list(ticks[0]), list(ticks[1]))
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return save_png(fig, path)


def wise_png(curves: Sequence[dict[str, object]], path: Path) -> Path:
    """The monitor rows' score (the competition's metric) against α, one line per fold, the chosen α marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    metric = str(curves[0].get("metric", "accuracy"))
    for fold, curve in enumerate(curves):
        alphas, scores = np.asarray(curve["alphas"]), np.asarray(curve[f"monitor_{metric}"])
        line = ax.plot(alphas, scores, marker="o", label=f"fold {fold}")[0]
        chosen = float(curve["alpha"])  # type: ignore[arg-type]
        ax.axvline(chosen, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xlabel("α (0 = zero-shot, 1 = fine-tuned)")
    ax.set_ylabel(f"monitor {metric}")
    ax.set_title("WiSE-FT weight interpolation")
    ax.legend()
    return save_png(fig, path)

"""Near-duplicate images, found by the cosine similarity of their cached CLIP features.

Two checks every competitor should run before trusting a validation score:

- **train-test pairs**: a test image that is a copy of a training image. Its label is known
  (the training image's), which is a leak: the leaderboard rewards memorising it, and the
  competition's test set is easier than it looks.
- **train-train pairs with different labels**: the same kernel photographed (or copied) twice
  and labelled differently. That is label noise, and a ceiling on any model's accuracy.

CLIP features share a large common direction, so raw cosines of unrelated images sit high and
close together (above 0.99 on a random-weight model). The features are therefore centred (their
mean over train and test subtracted) and re-normalised first; an exact copy still scores 1.
Similarities are computed for blocks of query rows against every reference row, so the full
matrix of a competition (18k images: 1.3 GB in float32) is never held at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, write_csv, write_json
from ..clip.features import FeatureSet
from ..data.dataset import Dataset
from ..data.images import read_image
from ..defaults import DUPES_THRESHOLD
from ..errors import CornkitError
from ..plots import contact_sheet_png
from .folder import report_folder

BLOCK_ROWS = 1024
PER_IMAGE = 5
"""At most this many partners per image are listed (its most similar ones)."""
SHEET_PAIRS = 6
"""Pairs of each kind on the contact sheet."""
Hits = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Pairs found: row of the first image, row of the second, similarity."""
COLUMNS = ("kind", "id_a", "part_a", "label_a", "id_b", "part_b", "label_b", "similarity")


def centred_unit(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows minus ``mean``, scaled to unit length (float32)."""
    centred = features.astype(np.float32) - mean.astype(np.float32)
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def similar_pairs(
    queries: np.ndarray,
    references: np.ndarray,
    threshold: float,
    *,
    same_set: bool = False,
    query_labels: np.ndarray | None = None,
    reference_labels: np.ndarray | None = None,
    per_query: int = PER_IMAGE,
    block_rows: int = BLOCK_ROWS,
) -> Hits:
    """Pairs (query row, reference row, similarity) of unit rows with similarity >= ``threshold``.

    Each query keeps its ``per_query`` most similar references. ``same_set`` (queries are the
    references) keeps each unordered pair once and never pairs a row with itself; with labels,
    only pairs whose labels differ are kept. Memory is ``block_rows`` x references.
    """
    found_q, found_r, found_s = [], [], []
    n_refs = len(references)
    keep = min(per_query, n_refs)
    for start in range(0, len(queries), block_rows):
        sims = queries[start : start + block_rows] @ references.T
        rows = np.arange(start, start + len(sims))
        if same_set:
            sims[np.arange(n_refs)[None, :] <= rows[:, None]] = -np.inf
        if query_labels is not None and reference_labels is not None:
            sims[query_labels[rows][:, None] == reference_labels[None, :]] = -np.inf
        best = np.argpartition(-sims, keep - 1, axis=1)[:, :keep] if keep < n_refs else np.broadcast_to(np.arange(n_refs), (len(sims), n_refs))
        best_sims = np.take_along_axis(sims, best, axis=1)
        hit_row, hit_col = np.nonzero(best_sims >= threshold)
        found_q.append(rows[hit_row])
        found_r.append(best[hit_row, hit_col])
        found_s.append(best_sims[hit_row, hit_col])
    if not found_q:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    return np.concatenate(found_q), np.concatenate(found_r), np.concatenate(found_s)


@dataclass(frozen=True)
class DupesReport:
    """The pairs found (``dupes.csv``, most similar first) and where the report went."""

    pairs: pd.DataFrame
    folder: Path
    csv_path: Path
    png_path: Path
    threshold: float

    def summary(self) -> str:
        leaks = self.pairs[self.pairs["kind"] == "train-test"]
        noise = self.pairs[self.pairs["kind"] == "train-train"]
        return (
            f"{leaks['id_b'].nunique()} test image(s) are near-copies of training images (similarity >= {self.threshold:g}; their labels "
            f"are known: a leak); {len(noise)} pair(s) of training images with different labels (label noise to check by eye)."
        )


def _pair_frame(kind: str, a: tuple[np.ndarray, str, np.ndarray], b: tuple[np.ndarray, str, np.ndarray | None], hits: Hits) -> pd.DataFrame:
    """Rows of ``dupes.csv`` for ``hits`` between images of ``a`` and ``b`` (each: ids, part, labels)."""
    (ids_a, part_a, labels_a), (ids_b, part_b, labels_b) = a, b
    rows_a, rows_b, sims = hits
    return pd.DataFrame(
        {
            "kind": kind,
            "id_a": ids_a[rows_a],
            "part_a": part_a,
            "label_a": labels_a[rows_a],
            "id_b": ids_b[rows_b],
            "part_b": part_b,
            "label_b": labels_b[rows_b] if labels_b is not None else "",
            "similarity": sims.astype(np.float64),
        },
        columns=list(COLUMNS),
    )


def find_dupes(dataset: Dataset, features: FeatureSet, threshold: float = DUPES_THRESHOLD, *, block_rows: int = BLOCK_ROWS) -> pd.DataFrame:
    """Train-test near-copies and differently labelled train-train near-copies, most similar first."""
    if not -1 <= threshold <= 1:
        raise CornkitError(f"--threshold {threshold:g}: a cosine similarity lies in [-1, 1]; near-copies score close to 1, e.g. 0.99.")
    mean = np.vstack([features.train, features.test]).mean(axis=0)
    train, test = centred_unit(features.train, mean), centred_unit(features.test, mean)
    label_of = dataset.train.set_index(dataset.id_column)[dataset.label_column].astype(str)
    train_labels = label_of.loc[features.train_ids].to_numpy()
    leaks = similar_pairs(test, train, threshold, block_rows=block_rows)
    train_side = (features.train_ids, "train", train_labels)
    noise = similar_pairs(train, train, threshold, same_set=True, query_labels=train_labels, reference_labels=train_labels, block_rows=block_rows)
    frame = pd.concat(
        [
            _pair_frame("train-test", train_side, (features.test_ids, "test", None), (leaks[1], leaks[0], leaks[2])),
            _pair_frame("train-train", train_side, train_side, noise),
        ],
        ignore_index=True,
    )
    return frame.sort_values(["similarity", "kind", "id_a", "id_b"], ascending=[False, True, True, True], kind="stable").reset_index(drop=True)


def _sheet(pairs: pd.DataFrame, dataset: Dataset, path: Path, threshold: float) -> Path:
    """The top pairs of each kind side by side, captioned with id, label and similarity."""
    image_of = {part: dict(zip(dataset.ids(part), dataset.image_paths(part), strict=True)) for part in ("train", "test")}
    shown = pd.concat([group.head(SHEET_PAIRS) for _, group in pairs.groupby("kind", sort=True)]) if len(pairs) else pairs
    images, captions = [], []
    for row in shown.to_dict("records"):
        images += [image_of[str(row["part_a"])][str(row["id_a"])], image_of[str(row["part_b"])][str(row["id_b"])]]
        label_b = row["label_b"] or "label unknown"
        captions += [f"{row['part_a']} {row['id_a']}: {row['label_a']}", f"{row['part_b']} {row['id_b']}: {label_b} ({row['similarity']:.3f})"]
    title = f"near-duplicates (similarity >= {threshold:g}): {len(shown)} of {len(pairs)} pairs, each pair side by side"
    return contact_sheet_png(
        [read_image(p, "near-duplicate contact sheet") for p in images],
        captions,
        path,
        title,
        columns=4,
        empty=f"no pair of images above similarity {threshold:g}",
    )


def dupes_report(dataset: Dataset, features: FeatureSet, work: str | Path, threshold: float = DUPES_THRESHOLD) -> DupesReport:
    """Find the pairs and write ``WORK/reports/dupes-<hash>/`` (``dupes.csv``, ``dupes.png``, ``dupes.json``)."""
    pairs = find_dupes(dataset, features, threshold)
    config = {"features": features.key, "threshold": threshold, "per_image": PER_IMAGE, "centred": True}
    folder = report_folder(work, "dupes", config)
    with atomic_dir(folder) as tmp:
        write_csv(tmp / "dupes.csv", pairs)
        _sheet(pairs, dataset, tmp / "dupes.png", threshold)
        counts = pairs["kind"].value_counts().to_dict()
        write_json(tmp / "dupes.json", {**config, "clip": features.meta.get("clip"), "pairs": {k: int(v) for k, v in counts.items()}})
    return DupesReport(pairs=pairs, folder=folder, csv_path=folder / "dupes.csv", png_path=folder / "dupes.png", threshold=threshold)

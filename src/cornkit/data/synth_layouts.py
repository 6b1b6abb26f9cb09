"""The synthetic set's layouts: the same images, filed, labelled and submitted the way other competitions do.

- ``corn``: It's Corn's files, a label column in ``sample_submission.csv``;
- ``probabilities``: one probability column per class in the sample, as log-loss competitions ask;
- ``binary``: labels ``0`` (a pure kernel) and ``1`` (a defective one), and one column in the
  sample for the probability of ``1``, as ROC AUC competitions ask;
- ``cassava``: Cassava Leaf Disease's shape: ``train.csv`` with ``image_id`` (the file name) and
  integer labels, ``train_images/`` and ``test_images/``, no ``test.csv``;
- ``dogbreed``: Dog Breed Identification's shape: ``labels.csv`` with hex ids (the file name
  without its extension) and a ``breed`` column, ``train/`` and ``test/``, no ``test.csv``, one
  probability column per class in the sample;
- ``folders``: no training CSV at all, one folder per class under ``train/`` (a class name holds
  a space), the test images under ``test/`` named by the sample's ids.

Every layout keeps the same images for the same seed and a ``solution.csv`` with the test labels.
Apart from :mod:`.synth` (which draws the images with NumPy and Pillow) so that the command
line can offer ``--layout`` without loading either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_csv

if TYPE_CHECKING:
    import pandas as pd

LAYOUTS: tuple[str, ...] = ("corn", "probabilities", "binary", "cassava", "dogbreed", "folders")
BINARY_LABELS = {"pure": "0", "broken": "1", "discolored": "1", "silkcut": "1"}
"""The ``binary`` layout's labels: is the kernel defective (``1``) or pure (``0``)."""
CASSAVA_LABELS = {"pure": "0", "broken": "1", "discolored": "2", "silkcut": "3"}
"""The ``cassava`` layout's integer labels, one per class."""
FOLDER_NAMES = {"pure": "pure", "broken": "broken", "discolored": "discolored", "silkcut": "silk cut"}
"""The ``folders`` layout's class folders: one holds a space, as folder-per-class sets often do."""
ID = "seed_id"
"""It's Corn's id column (:data:`.dataset.DEFAULT_ID_COLUMN`), named here so the command line need not load pandas."""


def relabel(labels: pd.Series, layout: str) -> pd.Series:
    """The layout's labels for drawn classes: the class names, ``0``/``1`` for ``binary``, ``0``..``3`` for ``cassava``."""
    mapping = {"binary": BINARY_LABELS, "cassava": CASSAVA_LABELS, "folders": FOLDER_NAMES}.get(layout)
    return labels.map(mapping) if mapping else labels


def sample_submission(ids: pd.DataFrame, classes: Sequence[str], layout: str) -> pd.DataFrame:
    """The layout's ``sample_submission.csv``: the test ids and placeholder values of its kind."""
    if layout in ("probabilities", "dogbreed"):
        return ids.assign(**{name: 1 / len(classes) for name in classes})
    if layout == "binary":
        return ids.assign(label=0.5)
    return ids.assign(label=relabel(ids.iloc[:, 0].map(lambda _: classes[0]), layout))


def hex_id(seed_id: object) -> str:
    """Dog Breed Identification's kind of id: 32 hex digits (here derived from the seed id)."""
    return hashlib.md5(str(seed_id).encode()).hexdigest()


def _move(out: Path, rows: pd.DataFrame, names: Sequence[str]) -> None:
    """Move each row's drawn image (``rows["image"]``) to ``names`` (relative to ``out``)."""
    for old, new in zip(rows["image"], names, strict=True):
        (out / new).parent.mkdir(parents=True, exist_ok=True)
        (out / old).rename(out / new)


def write_layout(out: Path, train: pd.DataFrame, test: pd.DataFrame, usage: Sequence[str], classes: Sequence[str], layout: str) -> None:
    """The CSVs (and, for the layouts that file images otherwise, the image files) of ``layout``.

    ``train`` and ``test`` are the drawn rows (seed_id, view, image under ``train/`` and
    ``test/``, the class drawn); ``usage`` says which test rows are Public.
    """
    train = train.assign(label=relabel(train["label"], layout))
    test = test.assign(label=relabel(test["label"], layout))
    if layout in ("corn", "probabilities", "binary"):
        write_csv(out / "train.csv", train)
        write_csv(out / "test.csv", test.drop(columns="label"))
        write_csv(out / "sample_submission.csv", sample_submission(test[[ID]], classes, layout))
        write_csv(out / "solution.csv", test[[ID, "label"]].assign(Usage=list(usage)))
        return
    if layout == "cassava":
        column, train_ids, test_ids = "image_id", [f"{i}.png" for i in train[ID]], [f"{i}.png" for i in test[ID]]
        _move(out, train, [f"train_images/{i}" for i in train_ids])
        _move(out, test, [f"test_images/{i}" for i in test_ids])
        write_csv(out / "train.csv", train.assign(image_id=train_ids)[[column, "label"]])
    elif layout == "dogbreed":
        column, train_ids, test_ids = "id", [hex_id(i) for i in train[ID]], [hex_id(i) for i in test[ID]]
        _move(out, train, [f"train/{i}.png" for i in train_ids])
        _move(out, test, [f"test/{i}.png" for i in test_ids])
        write_csv(out / "labels.csv", train.assign(id=train_ids, breed=train["label"])[[column, "breed"]])
    else:
        column, test_ids = "file", [f"{i}.png" for i in test[ID]]
        _move(out, train, [f"train/{label}/{i}.png" for i, label in zip(train[ID], train["label"], strict=True)])
        _move(out, test, [f"test/{i}" for i in test_ids])
    for drawn in ("train", "test"):
        if (out / drawn).is_dir() and not any((out / drawn).iterdir()):
            (out / drawn).rmdir()  # cassava files its images elsewhere
    ids = test.assign(**{column: test_ids})[[column]]
    write_csv(out / "sample_submission.csv", sample_submission(ids, classes, layout))
    write_csv(out / "solution.csv", ids.assign(label=test["label"].to_numpy(), Usage=list(usage)))

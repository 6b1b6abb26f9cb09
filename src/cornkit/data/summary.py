"""What the kit read from a competition folder, one finding per line (``cornkit data``).

Before anything is split or fitted the user sees which file lists the training rows, the id
column, where the images are, the label column and the classes with their counts, the test
rows and what the submission holds, so a folder read the wrong way is caught at a glance.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

import pandas as pd

from .dataset import Dataset


def _folders(paths: pd.Series) -> str:
    """The folders the image paths sit in (``train/``), at most three named."""
    parents = Counter(str(PurePosixPath(p).parent) + "/" for p in paths)
    named = ", ".join(f"{folder} ({n})" for folder, n in parents.most_common(3))
    return named + (f" and {len(parents) - 3} more folders" if len(parents) > 3 else "")


def findings(dataset: Dataset) -> list[str]:
    """One line per thing read: training rows, ids, images, labels and classes, test rows, submission."""
    config = dataset.config
    counts = dataset.train[config.label_column].value_counts()
    classes = ", ".join(f"{c} {int(counts.get(c, 0))}" for c in dataset.classes)
    return [
        f"training rows: {len(dataset.train)} in train.csv",
        f"id column: {dataset.id_column!r} (integers, shared by test.csv and sample_submission.csv)",
        f"training images: column {config.image_column!r}, under {_folders(dataset.train[config.image_column])}",
        f"test images: column {config.image_column!r}, under {_folders(dataset.test[config.image_column])}",
        f"labels: column {config.label_column!r}, {len(dataset.classes)} classes: {classes}",
        f"test rows: {len(dataset.test)} in test.csv, the same ids as sample_submission.csv",
        f"submission: {dataset.submission_format.describe()}, columns {list(dataset.sample_submission.columns)}",
    ]

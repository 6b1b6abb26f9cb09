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
    counts = dataset.train[dataset.label_column].value_counts()
    classes = ", ".join(f"{c} {int(counts.get(c, 0))}" for c in dataset.classes)
    layout = dataset.layout
    assert layout is not None, "load_dataset always records the layout it read"
    kinds = "integers" if all(i.lstrip("-").isdigit() for i in dataset.ids("train") + dataset.ids("test")) else "text"
    return [
        f"training rows: {layout.train_source}",
        f"id column: {dataset.id_column!r} ({kinds}, e.g. {dataset.ids('test')[0]!r}; written back as read)",
        f"training images: {layout.train_images} ({_folders(dataset.train[dataset.image_column])})",
        f"test images: {layout.test_images} ({_folders(dataset.test[dataset.image_column])})",
        f"labels: {layout.label_source}, {len(dataset.classes)} classes: {classes}",
        f"test rows: {layout.test_source}",
        f"submission: {dataset.submission_format.describe()}, columns {list(dataset.sample_submission.columns)}",
    ]

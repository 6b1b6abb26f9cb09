"""Read Roboflow's "OpenAI CLIP Classification" export as a competition folder.

The export is a tree of ``<part>/<class>/<image>`` (``test/`` at least; ``train/`` and
``valid/`` when exported) and a ``_tokenization.txt`` with one caption per class, classes
in alphabetical order. ``import_roboflow`` writes ``train.csv``, ``test.csv``,
``sample_submission.csv`` and ``solution.csv`` beside the tree, without copying an image, so
every cornkit command runs on it and ``--prompts .../_tokenization.txt`` is its prompt set.
All images are labelled, so a stratified ``test_frac`` of them becomes the test part, its
labels kept in ``solution.csv`` for local scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from ..atomic import write_csv
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from .dataset import DEFAULT_ID_COLUMN as ID
from .dataset import IMAGE_SUFFIXES

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class RoboflowImport:
    """What was found and where the CSVs and captions are."""

    root: Path
    classes: tuple[str, ...]
    n_train: int
    n_test: int
    tokenization: Path | None


def _labelled_images(root: Path) -> pd.DataFrame:
    rows = [
        {"image": str(path.relative_to(root)), "label": class_dir.name}
        for part in PARTS
        if (root / part).is_dir()
        for class_dir in sorted(p for p in (root / part).iterdir() if p.is_dir())
        for path in sorted(class_dir.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not rows:
        raise CornkitError(f"--src {root}: no images under {'/, '.join(PARTS)}/<class>/; is this a Roboflow 'OpenAI CLIP Classification' export?")
    return pd.DataFrame(rows)


def import_roboflow(src: str | Path, *, test_frac: float = 0.2, seed: int = DEFAULT_SEED) -> RoboflowImport:
    """Write the competition CSVs for the Roboflow export at ``src`` (refuses to overwrite)."""
    root = Path(src)
    if (root / "train.csv").exists():
        raise CornkitError(f"{root / 'train.csv'} already exists; this export was imported before.")
    if not 0 < test_frac < 1:
        raise CornkitError(f"--test-frac {test_frac}: must be between 0 and 1.")
    images = _labelled_images(root)
    counts = images["label"].value_counts()
    if counts.min() < 2:
        raise CornkitError(f"class {counts.idxmin()!r} has a single image; each class needs at least two to be split.")
    images.insert(0, ID, range(len(images)))
    train, test = train_test_split(images, test_size=test_frac, stratify=images["label"], random_state=seed)
    train, test = train.sort_values(ID), test.sort_values(ID)
    classes = tuple(sorted(images["label"].unique()))
    write_csv(root / "train.csv", train)
    write_csv(root / "test.csv", test[[ID, "image"]])
    write_csv(root / "sample_submission.csv", test[[ID]].assign(label=classes[0]))
    write_csv(root / "solution.csv", test[[ID, "label"]].assign(Usage="Private"))
    tokenization = next((p for p in (root / "_tokenization.txt", *(root / part / "_tokenization.txt" for part in PARTS)) if p.is_file()), None)
    return RoboflowImport(root=root, classes=classes, n_train=len(train), n_test=len(test), tokenization=tokenization)

"""Load and check a competition folder before anything is computed from it.

:mod:`.layout` finds where the folder keeps its training rows, ids, images, labels and test
rows (It's Corn's ``train.csv``/``test.csv`` with an image column, a ``labels.csv`` with hex ids
naming the files, one folder per class, ...); this module checks what it found, row by row, and
holds the result as a :class:`Dataset` in one shape: ids as text, image paths relative to the
folder, labels as the training rows write them. ``sample_submission.csv`` says what a
submission holds (:mod:`.submission_format`). Every problem is reported with the file, the row
(as a spreadsheet shows it: the header is row 1) and the column, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ..errors import CornkitError
from ..paths import check_length
from .ids import first_repeat
from .layout import IMAGE_COLUMN, IMAGE_SUFFIXES, LABEL_COLUMN, SAMPLE_CSV, Layout, LayoutChoices, read_folder
from .submission_format import SubmissionFormat, detect_submission_format
from .table_files import csv_row

DEFAULT_ID_COLUMN = "seed_id"
"""It's Corn's id column; the synthetic set uses it too. Other competitions' id column is the
one their ``sample_submission.csv`` shares with ``test.csv``, or its first (:mod:`.layout`)."""


@dataclass(frozen=True)
class DataConfig(LayoutChoices):
    """How to read a competition folder; every field left ``None`` is found from the files.

    The fields of :class:`~.layout.LayoutChoices` (``id_column``, ``label_column``,
    ``image_column``, ``train_csv``, ``train_images``, ``test_images``) override what the layout
    detection finds (``--id-column`` and so on). ``classes`` fixes the order of the probability
    columns (and refuses labels outside the list); by default it is the sorted set of training
    labels. ``submission_format`` settles a sample that could be read two ways
    (:mod:`.submission_format`).
    """

    classes: tuple[str, ...] | None = None
    submission_format: str | None = None

    def given(self) -> dict[str, Any]:
        """The fields set, as JSON-able values: what ``cornkit split`` records so later commands need only ``--data``."""
        given: dict[str, Any] = {}
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            if value is not None:
                given[name] = list(value) if isinstance(value, tuple) else value
        return given

    @classmethod
    def from_given(cls, given: dict[str, Any]) -> DataConfig:
        """The config :meth:`given` recorded (keys a newer kit added are ignored)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if k == "classes" else v for k, v in given.items() if k in known}
        return cls(**values)


@dataclass(frozen=True)
class Dataset:
    """A checked competition folder: train rows with labels, test rows, the class order.

    ``train`` holds the id column, ``image`` (the path relative to ``root``) and ``label``;
    ``test`` the id column and ``image``, whatever the competition's files call them.
    ``config`` is what the user gave; ``layout`` what was found.
    """

    root: Path
    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame
    classes: tuple[str, ...]
    config: DataConfig = field(default_factory=DataConfig)
    fingerprint: str = ""
    submission_format: SubmissionFormat = field(default_factory=lambda: SubmissionFormat("label", ("label",)))
    """What ``sample_submission.csv`` asks for: a label column, a probability column per class, or the positive class's probability."""
    layout: Layout | None = None
    id_column: str = DEFAULT_ID_COLUMN
    image_column: ClassVar[str] = IMAGE_COLUMN
    label_column: ClassVar[str] = LABEL_COLUMN

    def image_paths(self, part: str) -> list[Path]:
        """Absolute image paths of ``part`` ("train" or "test"), in row order."""
        frame = self.train if part == "train" else self.test
        return [self.root / p for p in frame[self.image_column]]

    def ids(self, part: str) -> list[str]:
        """The ids of ``part`` in row order, as text exactly as the CSV writes them."""
        frame = self.train if part == "train" else self.test
        return frame[self.id_column].tolist()


def _check_ids(path: Path, frame: pd.DataFrame, column: str) -> None:
    """Ids are non-empty text that appears once; each is kept as the file writes it (:mod:`.ids`)."""
    empty = (frame[column].str.strip() == "").to_numpy().nonzero()[0]
    if len(empty):
        raise CornkitError(f"{path}, row {csv_row(int(empty[0]))}, column {column!r}: empty id; every row needs one.")
    repeat = first_repeat(frame[column])
    if repeat is not None:
        row, first = repeat
        raise CornkitError(
            f"{path}, row {csv_row(row)}, column {column!r}: id {frame[column].iloc[row]!r} already appears in row "
            f"{csv_row(first)}. Ids must be unique; remove the duplicate row."
        )


def _check_label_spellings(path: Path, labels: pd.Series, where: str) -> None:
    """Refuse two labels that differ only in spaces or case ("pure" and "pure "): a typo, not a fifth class."""
    first_row: dict[str, int] = {}
    for i, label in enumerate(labels):
        first_row.setdefault(label, i)
    seen: dict[str, str] = {}
    for label, i in first_row.items():
        canonical = " ".join(label.split()).casefold()
        other = seen.setdefault(canonical, label)
        if other != label:
            raise CornkitError(
                f"{path}, rows {csv_row(first_row[other])} and {csv_row(i)}, {where}: labels {other!r} and {label!r} "
                "differ only in spaces or case; spell the class the same way in every row."
            )


def _check_same_ids(sample_path: Path, sample: pd.DataFrame, test_path: Path, test: pd.DataFrame, column: str) -> None:
    """sample_submission.csv and test.csv must list the same ids; the first id of either that the other lacks is named with its row."""
    for path, frame, other_path, other in ((sample_path, sample, test_path, test), (test_path, test, sample_path, sample)):
        missing = ~frame[column].isin(set(other[column]))
        if missing.any():
            i = int(missing.to_numpy().nonzero()[0][0])
            raise CornkitError(
                f"{path}, row {csv_row(i)}, column {column!r}: id {frame[column].iloc[i]!r} is not in {other_path.name} "
                f"({int(missing.sum())} such id(s)); the two files come from the same download, re-download both."
            )


def _check_images(root: Path, path: Path, frame: pd.DataFrame, column: str) -> None:
    """Every image path must name a readable image file inside the data folder; ``column`` is the file's column that named it."""
    resolved_root = root.resolve()
    for i, relative in enumerate(frame[IMAGE_COLUMN]):
        where = f"{path}, row {csv_row(i)}, column {column!r}"
        if not isinstance(relative, str) or not relative.strip():
            raise CornkitError(f"{where}: empty image path.")
        check_length(root / relative, where)
        image = (root / relative).resolve()
        if not image.is_relative_to(resolved_root):
            raise CornkitError(f"{where}: {relative!r} points outside the data folder {root}; image paths must stay inside it.")
        if not image.is_file():
            raise CornkitError(f"{where}: image {relative!r} not found under {root}. Re-download the data or fix the path.")
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise CornkitError(f"{where}: {relative!r} is not an image file (expected one of {sorted(IMAGE_SUFFIXES)}).")


def find_competition_root(folder: Path) -> Path | None:
    """``folder`` or the one folder below it that holds ``sample_submission.csv``.

    Kaggle's zip of It's Corn unpacks into ``corn/``, so ``cornkit download --data corn``
    leaves ``corn/corn/train.csv``; the user should not have to know that.
    """
    if (folder / SAMPLE_CSV).is_file():
        return folder
    if folder.is_dir():
        found = sorted(p.parent for p in folder.glob(f"*/{SAMPLE_CSV}"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CornkitError(f"{folder} holds several competition folders ({', '.join(map(str, found))}): pass one of them as --data.")
    return None


def load_dataset(data: str | Path, config: DataConfig | None = None, *, check_images: bool = True) -> Dataset:
    """Read and check the competition folder ``data`` (or the one folder below it holding sample_submission.csv).

    ``check_images=False`` skips the per-file checks, for commands that only read cached
    features; everything that opens images checks them.
    """
    config = config or DataConfig()
    root = Path(data)
    if not root.is_dir():
        raise CornkitError(f"--data {root}: no such folder. Point it at the competition folder (the one holding sample_submission.csv).")
    root = find_competition_root(root) or root
    read = read_folder(root, config)
    train, test, sample, id_col = read.train, read.test, read.sample, read.layout.id_column
    for path, frame in ((read.train_file, train), (read.test_file, test), (root / SAMPLE_CSV, sample)):
        _check_ids(path, frame, id_col)

    labels = train[LABEL_COLUMN]
    cell = f", column {read.layout.label_column!r}" if read.layout.label_column else ""
    empty = labels.str.strip() == ""
    if empty.any():
        i = int(empty.to_numpy().nonzero()[0][0])
        raise CornkitError(f"{read.train_file}, row {csv_row(i)}{cell}: empty label.")
    _check_label_spellings(read.train_file, labels, read.layout.label_source)
    classes = tuple(config.classes) if config.classes else tuple(sorted(labels.unique()))
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise CornkitError(f"the class list names {', '.join(map(repr, repeated))} more than once (--classes); give each class once.")
    unknown = ~labels.isin(classes)
    if unknown.any():
        i = int(unknown.to_numpy().nonzero()[0][0])
        raise CornkitError(
            f"{read.train_file}, row {csv_row(i)}{cell}: unknown label {labels.iloc[i]!r}; "
            f"the classes are {list(classes)}. Fix the row or add the class to the configured class list."
        )
    if len(classes) < 2:
        raise CornkitError(f"{read.train_file}: only one class ({classes[0]!r}) found; a classifier needs at least two.")

    overlap = set(train[id_col]) & set(test[id_col])
    if overlap:
        raise CornkitError(f"{read.test_file}: id {min(overlap)!r} is also in the training rows ({read.train_file.name}); train and test ids must not overlap.")
    if read.test_file != root / SAMPLE_CSV:
        _check_same_ids(root / SAMPLE_CSV, sample, read.test_file, test, id_col)
    label_name = config.label_column or LABEL_COLUMN
    submission_format = detect_submission_format(root / SAMPLE_CSV, sample, classes, id_col, label_name, config.submission_format)
    if check_images:
        _check_images(root, read.train_file, train, read.layout.train_named_by)
        _check_images(root, read.test_file, test, read.layout.test_named_by)
    return Dataset(
        root=root,
        train=train,
        test=test,
        sample_submission=sample,
        classes=classes,
        config=config,
        fingerprint=read.layout.fingerprint,
        submission_format=submission_format,
        layout=read.layout,
        id_column=id_col,
    )

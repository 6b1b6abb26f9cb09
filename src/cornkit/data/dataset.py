"""Load and check a competition folder before anything is computed from it.

A competition folder holds ``train.csv`` (id, image path, label), ``test.csv`` (id, image
path) and ``sample_submission.csv`` (the id, then a label column, one probability column per
class, or the positive class's probability: :mod:`.submission_format`), with the images at
the paths the CSVs name.
Column names and the class list default to It's Corn but come from :class:`DataConfig`, so
any image competition of the same shape works. Every problem is reported with the file, the
row (as a spreadsheet shows it: the header is row 1) and the column, and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ..errors import CornkitError
from ..hashing import files_hash
from ..paths import check_length
from .submission_format import SubmissionFormat, detect_submission_format

DEFAULT_ID_COLUMN = "seed_id"
"""It's Corn's id column; the synthetic set uses it too. Other competitions' id column is the
one their ``sample_submission.csv`` shares with ``test.csv`` (or the one named in :class:`DataConfig`)."""
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class DataConfig:
    """How to read a competition folder: its column names and, optionally, the class order.

    ``id_column=None`` means the column ``sample_submission.csv`` shares with ``test.csv``
    (``seed_id`` on It's Corn), whatever its position, so a competition of the same shape with
    another id column, or with its columns in another order, works unchanged.
    ``classes=None`` means the sorted set of labels found in ``train.csv``; naming them fixes
    the order of the probability columns (and refuses labels outside the list).
    ``submission_format=None`` means the kind ``sample_submission.csv`` shows
    (:mod:`.submission_format`); naming it settles a sample that could be read two ways.
    """

    id_column: str | None = None
    image_column: str = "image"
    label_column: str = "label"
    classes: tuple[str, ...] | None = None
    submission_format: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A checked competition folder: train rows with labels, test rows, the class order."""

    root: Path
    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame
    classes: tuple[str, ...]
    config: DataConfig = field(default_factory=DataConfig)
    fingerprint: str = ""
    submission_format: SubmissionFormat = field(default_factory=lambda: SubmissionFormat("label", ("label",)))
    """What ``sample_submission.csv`` asks for: a label column, a probability column per class, or the positive class's probability."""

    @property
    def id_column(self) -> str:
        """The id column's name (resolved from ``sample_submission.csv`` when the config left it open)."""
        return self.config.id_column or DEFAULT_ID_COLUMN

    def image_paths(self, part: str) -> list[Path]:
        """Absolute image paths of ``part`` ("train" or "test"), in row order."""
        frame = self.train if part == "train" else self.test
        return [self.root / p for p in frame[self.config.image_column]]

    def ids(self, part: str) -> list[int]:
        """The ids of ``part`` in row order."""
        frame = self.train if part == "train" else self.test
        return frame[self.id_column].tolist()


def _csv_row(index: int) -> int:
    """The row number a spreadsheet shows for a 0-based data index (header is row 1)."""
    return index + 2


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise CornkitError(
            f"{path} not found. --data must be the competition folder that holds train.csv, test.csv "
            "and sample_submission.csv (e.g. the unzipped `kaggle competitions download` or `cornkit synth --out DIR`)."
        )
    try:
        # Every cell as the text in the file: a label "01" stays "01", "NA" is a label, not a missing value.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CornkitError(f"{path} is not a readable CSV file ({error}). Re-download or re-create it.") from error
    _require_columns(path, frame, required)
    if frame.empty:
        raise CornkitError(f"{path} has a header but no rows: nothing to {'train on' if 'train' in path.name else 'predict'}.")
    return frame


def _require_columns(path: Path, frame: pd.DataFrame, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CornkitError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found {list(frame.columns)}. "
            "Fix the header, or name the columns in DataConfig if this competition calls them differently."
        )


INT64_MAX = 2**63 - 1


def _check_ids(path: Path, frame: pd.DataFrame, column: str) -> None:
    """Ids are whole numbers that fit in int64 and appear once; the column is converted to int64 in place."""
    values: list[int] = []
    for i, text in enumerate(frame[column]):
        stripped = text.strip()
        if not stripped.lstrip("+-").isdigit():
            raise CornkitError(f"{path}, row {_csv_row(i)}, column {column!r}: {text!r} is not an integer id.")
        value = int(stripped)
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise CornkitError(f"{path}, row {_csv_row(i)}, column {column!r}: id {stripped} is too large (ids must fit in 64 bits).")
        values.append(value)
    first_row: dict[int, int] = {}
    for i, value in enumerate(values):
        if value in first_row:
            raise CornkitError(
                f"{path}, row {_csv_row(i)}, column {column!r}: id {value} already appears in row "
                f"{_csv_row(first_row[value])}. Ids must be unique; remove the duplicate row."
            )
        first_row[value] = i
    frame[column] = pd.Series(values, index=frame.index, dtype="int64")


def _check_label_spellings(path: Path, labels: pd.Series, column: str) -> None:
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
                f"{path}, rows {_csv_row(first_row[other])} and {_csv_row(i)}, column {column!r}: labels {other!r} and {label!r} "
                "differ only in spaces or case; spell the class the same way in every row."
            )


def _id_column(sample_path: Path, sample: pd.DataFrame, test_path: Path, test: pd.DataFrame, label_column: str) -> str:
    """The id column by its role, not its position: the one column ``sample_submission.csv`` shares with ``test.csv``.

    The label column is the one it shares with ``train.csv`` only, so the order of the columns
    (``label,seed_id``) does not matter.
    """
    shared = [str(c) for c in sample.columns if c in test.columns and c != label_column]
    if len(shared) == 1:
        return shared[0]
    if not shared:
        raise CornkitError(
            f"{sample_path}: none of its columns {list(sample.columns)} is also in {test_path.name} ({list(test.columns)}), "
            "so the id column is unknown. Fix the headers, or name the id column in DataConfig(id_column=...)."
        )
    raise CornkitError(f"{sample_path}: columns {shared} are all in {test_path.name} too, so the id column is ambiguous; name it in DataConfig(id_column=...).")


def _check_same_ids(sample_path: Path, sample: pd.DataFrame, test_path: Path, test: pd.DataFrame, column: str) -> None:
    """sample_submission.csv and test.csv must list the same ids; the first id of either that the other lacks is named with its row."""
    for path, frame, other_path, other in ((sample_path, sample, test_path, test), (test_path, test, sample_path, sample)):
        missing = ~frame[column].isin(set(other[column]))
        if missing.any():
            i = int(missing.to_numpy().nonzero()[0][0])
            raise CornkitError(
                f"{path}, row {_csv_row(i)}, column {column!r}: id {frame[column].iloc[i]} is not in {other_path.name} "
                f"({int(missing.sum())} such id(s)); the two files come from the same download, re-download both."
            )


def _check_images(root: Path, path: Path, frame: pd.DataFrame, column: str) -> None:
    """Every image path must name a readable image file inside the data folder."""
    resolved_root = root.resolve()
    for i, relative in enumerate(frame[column]):
        where = f"{path}, row {_csv_row(i)}, column {column!r}"
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
    """``folder`` or the one folder below it that holds ``train.csv``.

    Kaggle's zip of It's Corn unpacks into ``corn/``, so ``cornkit download --data corn``
    leaves ``corn/corn/train.csv``; the user should not have to know that.
    """
    if (folder / "train.csv").is_file():
        return folder
    if folder.is_dir():
        found = sorted(p.parent for p in folder.glob("*/train.csv"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CornkitError(f"{folder} holds several competition folders ({', '.join(map(str, found))}): pass one of them as --data.")
    return None


def load_dataset(data: str | Path, config: DataConfig | None = None, *, check_images: bool = True) -> Dataset:
    """Read and check the competition folder ``data`` (or the one folder below it holding train.csv).

    ``check_images=False`` skips the per-file checks, for commands that only read cached
    features; everything that opens images checks them.
    """
    config = config or DataConfig()
    root = Path(data)
    if not root.is_dir():
        raise CornkitError(f"--data {root}: no such folder. Point it at the folder that holds train.csv.")
    root = find_competition_root(root) or root
    train_path, test_path, sample_path = root / "train.csv", root / "test.csv", root / "sample_submission.csv"
    image_col, label_col = config.image_column, config.label_column
    named_id = [config.id_column] if config.id_column else []
    train = _read_csv(train_path, [*named_id, image_col, label_col])
    test = _read_csv(test_path, [*named_id, image_col])
    sample = _read_csv(sample_path, named_id)
    id_col = config.id_column or _id_column(sample_path, sample, test_path, test, label_col)
    config = replace(config, id_column=id_col)
    for path, frame in ((train_path, train), (test_path, test)):
        _require_columns(path, frame, [id_col])
    for path, frame in ((train_path, train), (test_path, test), (sample_path, sample)):
        _check_ids(path, frame, id_col)

    labels = train[label_col]
    empty = labels.str.strip() == ""
    if empty.any():
        i = int(empty.to_numpy().nonzero()[0][0])
        raise CornkitError(f"{train_path}, row {_csv_row(i)}, column {label_col!r}: empty label.")
    _check_label_spellings(train_path, labels, label_col)
    classes = tuple(config.classes) if config.classes else tuple(sorted(labels.unique()))
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise CornkitError(f"the class list names {', '.join(map(repr, repeated))} more than once (--classes); give each class once.")
    unknown = ~labels.isin(classes)
    if unknown.any():
        i = int(unknown.to_numpy().nonzero()[0][0])
        raise CornkitError(
            f"{train_path}, row {_csv_row(i)}, column {label_col!r}: unknown label {labels.iloc[i]!r}; "
            f"the classes are {list(classes)}. Fix the row or add the class to the configured class list."
        )
    if len(classes) < 2:
        raise CornkitError(f"{train_path}: only one class ({classes[0]!r}) found; a classifier needs at least two.")

    overlap = set(train[id_col]) & set(test[id_col])
    if overlap:
        raise CornkitError(f"{test_path}: id {min(overlap)} is also in train.csv; train and test ids must not overlap.")
    _check_same_ids(sample_path, sample, test_path, test, id_col)
    submission_format = detect_submission_format(sample_path, sample, classes, id_col, label_col, config.submission_format)
    if check_images:
        _check_images(root, train_path, train, image_col)
        _check_images(root, test_path, test, image_col)
    return Dataset(
        root=root,
        train=train,
        test=test,
        sample_submission=sample,
        classes=classes,
        config=config,
        fingerprint=files_hash(train_path, test_path),
        submission_format=submission_format,
    )

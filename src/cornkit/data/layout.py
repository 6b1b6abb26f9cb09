"""Where a competition folder keeps its rows, ids, images and labels, found from the files themselves.

Kaggle image competitions come in a handful of shapes, and each is read without a flag:

- **training rows** in ``train.csv``, else in the one other labelled CSV (``labels.csv``,
  ``train_labels.csv``, ...), else in one folder per class under ``train/`` with no CSV at all;
- **the id column**: the column ``sample_submission.csv`` shares with ``test.csv``, else the
  sample's first column; ids are text, kept verbatim (:mod:`.ids`);
- **images** named by an ``image`` column, else by the id itself as a file name, else by the id
  plus the one image extension found on disk, in whichever folder holds them (``train/``,
  ``train_images/``, ``images/`` shared by both parts, ...);
- **labels** in one column (``label``, or the training CSV's one other column), or one-hot in
  one column per class; a multi-label row is refused as out of scope;
- **test rows** from ``test.csv``, else from the ids of ``sample_submission.csv``.

Every finding can be overridden (:class:`LayoutChoices`: ``--id-column``, ``--label-column``,
``--image-column``, ``--train-csv``, ``--train-images``, ``--test-images``). The result is one
shape for every layout: frames with the id, the image path relative to the folder and the label,
which :mod:`.dataset` then checks row by row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from ..errors import CornkitError
from ..hashing import config_hash, files_hash
from .table_files import csv_row, read_table, require_columns

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
SAMPLE_CSV = "sample_submission.csv"
TEST_CSV = "test.csv"
NOT_TRAINING_CSVS = frozenset({TEST_CSV, SAMPLE_CSV, "solution.csv", "submission.csv"})
"""CSV files that never list the training rows (``solution.csv``: the synthetic set's test labels)."""
TRAIN_FOLDERS = ("train", "train_images", "train-images", "images", "train/images")
TEST_FOLDERS = ("test", "test_images", "test-images", "images", "test/images")
IMAGE_COLUMN = "image"
LABEL_COLUMN = "label"
"""The columns of the read frames that hold each row's image path and label, whatever the CSV called them."""
ONE_HOT_VALUES = frozenset({"0", "1", "0.0", "1.0"})
NAMED_BY_ID = "the id as file name"


@dataclass(frozen=True)
class LayoutChoices:
    """What the user named instead of letting it be found; ``None`` means detect it."""

    id_column: str | None = None
    label_column: str | None = None
    image_column: str | None = None
    train_csv: str | None = None
    train_images: str | None = None
    test_images: str | None = None


@dataclass(frozen=True)
class Layout:
    """What was read from a competition folder, one phrase per finding (``cornkit data`` prints them)."""

    train_source: str
    id_column: str
    train_images: str
    test_images: str
    label_source: str
    test_source: str
    fingerprint: str
    label_column: str | None
    """The training rows' column holding the label (None for one-hot columns and class folders), for errors that name a cell."""
    train_named_by: str
    """The column of the training rows that names each image (the image column, or the id column), for errors that name a cell."""
    test_named_by: str


@dataclass(frozen=True)
class ReadFolder:
    """The training and test rows in one shape (id, ``image`` relative to the folder, ``label``), the sample, and how they were found."""

    train: pd.DataFrame
    test: pd.DataFrame
    sample: pd.DataFrame
    layout: Layout
    train_file: Path
    """The file (or class folder) the training rows come from, for errors that name a row."""
    test_file: Path


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


@dataclass(frozen=True)
class _ImagePlace:
    """Where the files named by a row sit: a folder (relative to the root, ``""`` for the root itself) and an extension to add."""

    folder: str
    extension: str = ""

    def path(self, name: str) -> str:
        return str(PurePosixPath(self.folder, name + self.extension)) if self.folder else name + self.extension

    def describe(self, named_by: str) -> str:
        where = f"{self.folder}/" if self.folder else "the data folder"
        added = f" plus {self.extension!r}" if self.extension else ""
        return f"{named_by}{added}, under {where}"


def _only_extension(folder: Path) -> str | None:
    """The one image extension of the files in ``folder`` (``.jpg``), or None when it holds none or several (names only: no file is opened)."""
    extensions = {p.suffix for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES} if folder.is_dir() else set()
    return extensions.pop() if len(extensions) == 1 else None


def _locate(root: Path, name: str, folders: Sequence[str], extension_of: Callable[[Path], str | None]) -> _ImagePlace | None:
    """The first of ``folders`` holding ``name`` as a file, or ``name`` plus the one image extension found there (``extension_of``)."""
    for folder in folders:
        base = root / folder
        if (base / name).is_file():
            return _ImagePlace(folder)
        if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES or (extension := extension_of(base)) is None:
            continue
        if (base / (name + extension)).is_file():
            return _ImagePlace(folder, extension)
    return None


PLACING_ROWS = 20
"""How many rows are tried to find where the images sit: the first one found decides, and :mod:`.dataset` checks every row."""


def _place_images(root: Path, names: pd.Series, folders: Sequence[str], forced: str | None, part: str, named_by: str, flag: str) -> _ImagePlace:
    """Where the images named by ``names`` are found (the data folder itself first, unless ``forced`` names the folder).

    Images named by a column that none of the first rows finds are taken as paths from the data
    folder, so that the row check names the first missing file's cell; images named by the id
    that cannot be found are refused here, naming the flags that say where they are.
    """
    first = str(names.iloc[0])
    if forced is not None and not (root / forced).is_dir():
        raise CornkitError(f"{flag} {forced}: no such folder under {root}.")
    searched = [forced] if forced is not None else list(folders)
    extension_of = functools.cache(_only_extension)  # each folder listed once, however many rows are tried
    tried = searched if forced is not None else ["", *searched]
    place = next((p for name in names.iloc[:PLACING_ROWS] if (p := _locate(root, str(name), tried, extension_of))), None)
    if place is None and named_by != NAMED_BY_ID:
        return _ImagePlace(forced or "")
    if place is None:
        where = ", ".join(f"{f}/" for f in searched if (root / f).is_dir()) or "no image folder"
        raise CornkitError(
            f"{root}: no image for the first {part} row ({named_by} {first!r}) in the data folder or {where}. "
            f"Name the folder with {flag} DIR, or the column holding image paths with --image-column."
        )
    return place


def _training_csv(root: Path, choices: LayoutChoices) -> Path | None:
    """``--train-csv``, else ``train.csv``, else the one other labelled CSV; None when the folder has no CSV of training rows."""
    if choices.train_csv is not None:
        return root / choices.train_csv
    if (root / "train.csv").is_file():
        return root / "train.csv"
    others = sorted(p for p in root.glob("*.csv") if p.name not in NOT_TRAINING_CSVS and "sample" not in p.name and "test" not in p.name)
    if len(others) > 1:
        raise CornkitError(f"{root}: several CSV files could list the training rows ({', '.join(p.name for p in others)}); name one with --train-csv.")
    return others[0] if others else None


def _class_folders(root: Path, choices: LayoutChoices) -> Path:
    """The folder holding one subfolder of images per class (``train/<class>/...``), for a competition without a training CSV."""
    candidates = [choices.train_images] if choices.train_images is not None else list(TRAIN_FOLDERS)
    for name in candidates:
        folder = root / name
        if folder.is_dir() and any(_image_files(sub) for sub in folder.iterdir() if sub.is_dir()):
            return folder
    raise CornkitError(
        f"{root}: no training rows found: no train.csv, no other labelled CSV, and no folder of class folders ({', '.join(f'{n}/' for n in candidates)}). "
        "Point --data at the competition folder, or name the CSV with --train-csv."
    )


def _refuse_multi_label(path: Path, labels: pd.Series, column: str) -> None:
    """A row whose label is several labels of other rows joined by spaces (``healthy rust``) is multi-label: out of scope."""
    single = set(labels)
    for i, label in enumerate(labels):
        parts = label.split()
        if len(parts) > 1 and all(p in single for p in parts):
            raise CornkitError(
                f"{path}, row {csv_row(i)}, column {column!r}: {label!r} lists several labels; multi-label competitions are out of scope (one class per image)."
            )


def _one_hot_labels(path: Path, frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The class of each row from one 0/1 column per class; a row with no 1 or with several 1s is refused."""
    ones = frame[columns].isin({"1", "1.0"})
    counts = ones.sum(axis=1).to_numpy()
    bad = (counts != 1).nonzero()[0]
    if len(bad):
        i = int(bad[0])
        why = "several 1s: multi-label competitions are out of scope (one class per image)" if counts[i] > 1 else "no 1: every row needs its class"
        raise CornkitError(f"{path}, row {csv_row(i)}: one-hot columns {columns} hold {why}.")
    return ones.idxmax(axis=1).astype(str)


def _labels(
    path: Path, frame: pd.DataFrame, id_column: str, image_column: str | None, test_columns: Sequence[str], choices: LayoutChoices
) -> tuple[pd.Series, str, str | None]:
    """Each training row's label as text, how it was found (one column, or one-hot columns), and its column (None for one-hot).

    Without a ``label`` column, the label is the one column of the training rows that the test
    rows lack (a column in both, like It's Corn's ``view``, describes the image and is no label).
    """
    if choices.label_column is not None:
        require_columns(path, frame, [choices.label_column])
        column = choices.label_column
    elif LABEL_COLUMN in frame.columns:
        column = LABEL_COLUMN
    else:
        others = [str(c) for c in frame.columns if c not in (id_column, image_column) and c not in test_columns]
        if len(others) > 1 and all(frame[c].isin(ONE_HOT_VALUES).all() for c in others):
            return _one_hot_labels(path, frame, others), f"one-hot columns, one per class ({len(others)})", None
        if len(others) != 1:
            raise CornkitError(
                f"{path}: which column holds the label? There is no 'label' column, and the candidates (columns besides the id and image "
                f"that the test rows lack) are {others}. Name it with --label-column."
            )
        column = others[0]
    labels = frame[column]
    _refuse_multi_label(path, labels, column)
    return labels, f"column {column!r}", column


def _id_column(sample: pd.DataFrame, test: pd.DataFrame | None, choices: LayoutChoices) -> str:
    """``--id-column``, else the one column ``sample_submission.csv`` shares with ``test.csv``, else the sample's first column.

    By role, not position: the value columns of the sample are the ones ``test.csv`` lacks, so
    ``label,seed_id`` works as well as ``seed_id,label``.
    """
    if choices.id_column is not None:
        return choices.id_column
    if test is None:
        return str(sample.columns[0])
    shared = [str(c) for c in sample.columns if c in test.columns and c != (choices.label_column or LABEL_COLUMN)]
    if len(shared) == 1:
        return shared[0]
    if not shared:
        raise CornkitError(
            f"{SAMPLE_CSV}: none of its columns {list(sample.columns)} is also in {TEST_CSV} ({list(test.columns)}), "
            "so the id column is unknown. Fix the headers, or name the id column with --id-column."
        )
    raise CornkitError(f"{SAMPLE_CSV}: columns {shared} are all in {TEST_CSV} too, so the id column is ambiguous; name it with --id-column.")


def _image_paths(root: Path, names: pd.Series, named_by: str, choices: LayoutChoices, part: str) -> tuple[list[str], str, _ImagePlace]:
    """The image path (relative to ``root``) of each row named by ``names``, where they were found, and the folder."""
    forced = choices.train_images if part == "train" else choices.test_images
    folders = TRAIN_FOLDERS if part == "train" else TEST_FOLDERS
    place = _place_images(root, names.astype(str), folders, forced, part, named_by, f"--{part}-images")
    return [place.path(str(n)) for n in names], place.describe(named_by), place


def _check_no_unlisted_test_images(root: Path, folder: str, listed: set[str]) -> None:
    """Test rows taken from the sample's ids: a test image in their folder that no row names means the two disagree."""
    unlisted = sorted(path for p in _image_files(root / folder) if (path := str(PurePosixPath(p.relative_to(root)))) not in listed)
    if unlisted:
        raise CornkitError(
            f"{root / unlisted[0]}: a test image that no id of {SAMPLE_CSV} names ({len(unlisted)} such image(s)); the test rows are the "
            f"sample's ids, so the two must match: re-download the competition, or point --test-images at the folder of the test images only."
        )


def _folder_fingerprint(root: Path, files: Sequence[Path], *csvs: Path) -> str:
    """Hash of the CSVs read and, for rows that come from folders, of the files listed (their paths, not their bytes)."""
    return config_hash({"csvs": files_hash(*csvs), "files": [str(p.relative_to(root)) for p in files]})


def _naming_column(frame: pd.DataFrame, id_column: str, image_column: str | None) -> str:
    """The column that names each row's image: its image column when the file has one, else its id."""
    return image_column if image_column is not None and image_column in frame.columns else id_column


def _image_names(frame: pd.DataFrame, id_column: str, image_column: str | None) -> tuple[pd.Series, str]:
    """Each row's image name and how it is named (``column 'image'`` or ``the id as file name``)."""
    column = _naming_column(frame, id_column, image_column)
    return frame[column], f"column {column!r}" if column != id_column else NAMED_BY_ID


@dataclass(frozen=True)
class _TrainingRows:
    """The training rows read, and where their rows, images and labels were found."""

    frame: pd.DataFrame
    source: str
    images: str
    label_source: str
    label_column: str | None
    named_by: str
    listed: tuple[Path, ...] = ()


def _rows_from_csv(root: Path, train_csv: Path, id_column: str, test_columns: Sequence[str], choices: LayoutChoices) -> _TrainingRows:
    """Training rows listed in a CSV."""
    rows = read_table(train_csv, [id_column])
    image_column = choices.image_column or (IMAGE_COLUMN if IMAGE_COLUMN in rows.columns else None)
    if choices.image_column is not None:
        require_columns(train_csv, rows, [choices.image_column])
    labels, label_source, label_column = _labels(train_csv, rows, id_column, image_column, test_columns, choices)
    paths, images, _ = _image_paths(root, *_image_names(rows, id_column, image_column), choices, "train")
    train = pd.DataFrame({id_column: rows[id_column], IMAGE_COLUMN: paths, LABEL_COLUMN: labels})
    return _TrainingRows(train, f"{len(rows)} in {train_csv.name}", images, label_source, label_column, _naming_column(rows, id_column, image_column))


def _rows_from_class_folders(root: Path, id_column: str, choices: LayoutChoices) -> _TrainingRows:
    """Training rows as one folder of images per class (the image files listed are part of the data's fingerprint)."""
    classes_root = _class_folders(root, choices)
    listed = [p for sub in sorted(classes_root.iterdir()) if sub.is_dir() for p in _image_files(sub)]
    train = pd.DataFrame(
        {
            id_column: [str(PurePosixPath(p.relative_to(classes_root))) for p in listed],
            IMAGE_COLUMN: [str(PurePosixPath(p.relative_to(root))) for p in listed],
            LABEL_COLUMN: [p.parent.name for p in listed],
        }
    )
    under = f"{PurePosixPath(classes_root.relative_to(root))}/"
    source = f"{len(train)} images in {train[LABEL_COLUMN].nunique()} class folders under {under}"
    images = f"one folder per class under {under} (the id is the path inside it)"
    return _TrainingRows(train, source, images, "the class folder's name", None, id_column, tuple(listed))


def read_folder(root: Path, choices: LayoutChoices) -> ReadFolder:
    """Find the training rows, ids, images, labels and test rows of the competition folder ``root``."""
    sample_csv, test_csv = root / SAMPLE_CSV, root / TEST_CSV
    sample = read_table(sample_csv)
    listed_tests = read_table(test_csv) if test_csv.is_file() else None
    id_column = _id_column(sample, listed_tests, choices)
    require_columns(sample_csv, sample, [id_column])
    train_csv = _training_csv(root, choices)
    test_columns = [str(c) for c in listed_tests.columns] if listed_tests is not None else []
    if train_csv is not None:
        training = _rows_from_csv(root, train_csv, id_column, test_columns, choices)
    else:
        training = _rows_from_class_folders(root, id_column, choices)
    if listed_tests is not None:
        require_columns(test_csv, listed_tests, [id_column])
        test_rows, test_source, test_file = listed_tests, f"{len(listed_tests)} in {TEST_CSV}, the same ids as {SAMPLE_CSV}", test_csv
    else:
        test_rows, test_source, test_file = sample, f"{len(sample)} from the ids of {SAMPLE_CSV} (there is no {TEST_CSV})", sample_csv
    image_column = choices.image_column or IMAGE_COLUMN
    test_image_column = image_column if listed_tests is not None else None
    test_paths, test_images, test_place = _image_paths(root, *_image_names(test_rows, id_column, test_image_column), choices, "test")
    if listed_tests is None and test_place.folder:
        _check_no_unlisted_test_images(root, test_place.folder, {*test_paths, *training.frame[IMAGE_COLUMN]})
    test = pd.DataFrame({id_column: test_rows[id_column], IMAGE_COLUMN: test_paths})
    csvs = [train_csv, test_file] if train_csv is not None else [test_file]
    fingerprint = _folder_fingerprint(root, training.listed, *csvs) if training.listed else files_hash(*csvs)
    layout = Layout(
        train_source=training.source,
        id_column=id_column,
        train_images=training.images,
        test_images=test_images,
        label_source=training.label_source,
        test_source=test_source,
        fingerprint=fingerprint,
        label_column=training.label_column,
        train_named_by=training.named_by,
        test_named_by=_naming_column(test_rows, id_column, test_image_column),
    )
    train_file = train_csv if train_csv is not None else root
    return ReadFolder(training.frame.reset_index(drop=True), test.reset_index(drop=True), sample, layout, train_file, test_file)

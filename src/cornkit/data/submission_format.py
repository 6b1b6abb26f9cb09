"""What a competition's ``sample_submission.csv`` asks for, read from the sample itself.

Kaggle image competitions want one of three kinds of value beside the id:

- ``label``: one column holding a class, as ``train.csv`` writes it (It's Corn, Cassava);
- ``probabilities``: one column per class, named by the class, each row summing to 1
  (Dog Breed Identification, scored by log loss);
- ``positive-probability``: for two classes, one column holding the positive class's probability
  (the larger label: ``1``, ``True``, ``yes``), as ROC AUC competitions ask.

The kind is detected from the sample's columns and values and the class list; a sample that
maps to none of them, or to more than one, is refused in one line naming its columns and the
flag that settles it (``--submission-format``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CornkitError
from ..metric_names import positive_class

if TYPE_CHECKING:  # the CLI reads SUBMISSION_KINDS for its flag; pandas loads when a sample is read
    import pandas as pd

SUBMISSION_KINDS: tuple[str, ...] = ("label", "probabilities", "positive-probability")
FLAG = "--submission-format"


@dataclass(frozen=True)
class SubmissionFormat:
    """The kind of submission, its value columns in the sample's order, and the class each one holds.

    ``column_classes`` is empty for ``label`` (its one column holds a class name), the class of
    each column for ``probabilities``, and the positive class for ``positive-probability``.
    """

    kind: str
    value_columns: tuple[str, ...]
    column_classes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the user: ``one probability column per class (4, in the sample's order)``."""
        if self.kind == "label":
            return f"a label column {self.value_columns[0]!r} holding the class"
        if self.kind == "probabilities":
            return f"one probability column per class ({len(self.value_columns)}, in the sample's order)"
        return f"one column {self.value_columns[0]!r} holding the probability of class {self.column_classes[0]!r}"


def _is_probability(values: pd.Series) -> bool:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and ((numbers >= 0) & (numbers <= 1)).all())


def _refuse(path: Path, columns: Sequence[str], classes: Sequence[str], why: str) -> CornkitError:
    return CornkitError(f"{path}: {why} (value columns {list(columns)}, classes {list(classes)}); give {FLAG} {'|'.join(SUBMISSION_KINDS)} to say which.")


def detect_submission_format(
    path: Path, sample: pd.DataFrame, classes: Sequence[str], id_column: str, label_column: str = "label", forced: str | None = None
) -> SubmissionFormat:
    """The submission kind ``sample`` (read from ``path``, every cell as text) asks for, or ``forced``'s, checked against the sample.

    One value column is a label column when it holds class names, a positive-class probability
    when there are two classes and it holds numbers in [0, 1], and otherwise a label column only
    when it is named like ``train.csv``'s label column (a sample filled with placeholders).
    """
    if forced is not None and forced not in SUBMISSION_KINDS:
        raise CornkitError(f"{FLAG} {forced!r}: give one of {', '.join(SUBMISSION_KINDS)}.")
    columns = [str(c) for c in sample.columns if c != id_column]
    classes = [str(c) for c in classes]
    if not columns:
        raise CornkitError(f"{path}: only the id column {id_column!r}; a submission needs a column for the prediction. Re-download the file.")
    if len(columns) > 1 or forced == "probabilities":
        if forced not in (None, "probabilities"):
            raise _refuse(path, columns, classes, f"{FLAG} {forced} takes one value column, the sample has {len(columns)}")
        if sorted(columns) != sorted(classes):
            unknown = [c for c in columns if c not in classes]
            absent = [c for c in classes if c not in columns]
            detail = f"column(s) {unknown} are not classes" if unknown else f"class(es) {absent} have no column"
            raise _refuse(path, columns, classes, f"one probability column per class expected, but {detail}")
        return SubmissionFormat("probabilities", tuple(columns), tuple(columns))
    column = columns[0]
    values = sample[column]
    holds_classes = bool(values.isin(classes).all())
    binary = len(classes) == 2
    if forced == "label" or (forced is None and holds_classes):
        return SubmissionFormat("label", (column,))
    if forced == "positive-probability" or (forced is None and binary and _is_probability(values)):
        if not binary:
            raise _refuse(path, columns, classes, f"{FLAG} positive-probability needs two classes, this set has {len(classes)}")
        return SubmissionFormat("positive-probability", (column,), (positive_class(classes),))
    if forced is None and column == label_column:
        return SubmissionFormat("label", (column,))
    first = values.iloc[0] if len(values) else ""
    raise _refuse(path, columns, classes, f"column {column!r} holds {first!r}, which is neither a class nor (with two classes) a probability")

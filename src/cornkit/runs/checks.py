"""The one check that a Run's numbers are probabilities (and its ids ids), used by every writer and every reader of a Run.

``make_run`` refuses to assemble a Run whose probabilities are not a probability table, and
``load_run`` refuses to read one (a hand-edited file, a Run written by an older kit), so
``submit``, ``ensemble``, ``score`` and the leaderboard never turn NaN into an answer. The
error names the Run, the file, the row (as a spreadsheet shows it: the header is row 1) and
the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.ids import first_repeat
from ..errors import CornkitError

ROW_SUM_TOLERANCE = 1e-4
"""How far a row's sum may stray from 1: CSVs keep 8 significant digits and float32 softmax ~1e-7."""


def check_probabilities(probs: np.ndarray, classes: Sequence[str], n_rows: int, where: str, *, fix: str) -> None:
    """Raise a one-line :class:`CornkitError` unless ``probs`` is an ``n_rows`` x classes table of probabilities.

    ``where`` names the Run and file (``"Run X, val_probs.csv"``); ``fix`` says what to do.
    """
    expected = (n_rows, len(classes))
    if probs.shape != expected:
        raise CornkitError(f"{where}: probabilities have shape {probs.shape}, expected {expected} (rows x classes). {fix}")
    problems = (
        (~np.isfinite(probs), "is {value} (not a finite number)"),
        (probs < 0, "is negative ({value})"),
    )
    with np.errstate(invalid="ignore"):
        for mask, says in problems:
            if mask.any():
                row, column = (int(k) for k in np.argwhere(mask)[0])
                value = probs[row, column]
                raise CornkitError(f"{where}, row {row + 2}, column {classes[column]!r}: the probability {says.format(value=value)}. {fix}")
    if n_rows:
        sums = probs.sum(axis=1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
        if off.any():
            row = int(off.nonzero()[0][0])
            raise CornkitError(f"{where}, row {row + 2}: the probabilities sum to {sums[row]:.6g}, not 1. {fix}")


def _spells_a_number(cell: object) -> bool:
    """True for a cell ``float`` can read, "nan" included (it is then reported as not finite, not as text)."""
    try:
        float(str(cell))
    except ValueError:
        return False
    return True


def probability_table(frame: pd.DataFrame, classes: Sequence[str], where: str, fix: str) -> np.ndarray:
    """The class columns of a Run file as floats, checked; a cell that is not a number is named."""
    table = frame[list(classes)].apply(pd.to_numeric, errors="coerce")
    bad = table.isna().to_numpy() & ~frame[list(classes)].map(_spells_a_number).to_numpy()
    if bad.any():
        row, column = (int(k) for k in np.argwhere(bad)[0])
        raise CornkitError(f"{where}, row {row + 2}, column {classes[column]!r}: {frame[classes[column]].iloc[row]!r} is not a number. {fix}")
    probs = table.to_numpy(dtype=np.float64)
    check_probabilities(probs, classes, len(frame), where, fix=fix)
    return probs


def check_ids(frame: pd.DataFrame, column: str, where: str, fix: str) -> None:
    """Raise a one-line :class:`CornkitError` unless ``column`` holds a non-empty id on every row, each once.

    A repeated row in ``test_probs.csv`` (a hand edit, two files concatenated) would give one id
    two predictions; the first repeat is named with the row it repeats.
    """
    texts = frame[column].astype(str)
    empty = (frame[column].isna() | (texts.str.strip() == "")).to_numpy().nonzero()[0]
    if len(empty):
        raise CornkitError(f"{where}, row {int(empty[0]) + 2}, column {column!r}: empty id. {fix}")
    repeat = first_repeat(texts)
    if repeat is not None:
        row, first = repeat
        raise CornkitError(f"{where}, row {row + 2}, column {column!r}: id {texts.iloc[row]!r} repeats row {first + 2}. {fix}")

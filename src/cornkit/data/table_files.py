"""Reading a competition's CSV files: every cell as its text, and errors that name the file, row and column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import CornkitError


def csv_row(index: int) -> int:
    """The row number a spreadsheet shows for a 0-based data index (header is row 1)."""
    return index + 2


def read_table(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """``path`` with every cell as the text in the file: a label ``01`` stays ``01``, ``NA`` is a label, not a missing value."""
    if not path.is_file():
        raise CornkitError(
            f"{path} not found. --data must be the competition folder that holds the training rows, the test rows "
            "and sample_submission.csv (e.g. the unzipped `kaggle competitions download` or `cornkit synth --out DIR`)."
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CornkitError(f"{path} is not a readable CSV file ({error}). Re-download or re-create it.") from error
    require_columns(path, frame, required)
    if frame.empty:
        raise CornkitError(f"{path} has a header but no rows: nothing to {'predict' if 'test' in path.name or 'sample' in path.name else 'train on'}.")
    return frame


def require_columns(path: Path, frame: pd.DataFrame, required: Sequence[str]) -> None:
    """Refuse ``frame`` (read from ``path``) unless it has every column of ``required``."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CornkitError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found {list(frame.columns)}. "
            "Fix the header, or name the columns with --id-column, --label-column or --image-column if this competition calls them differently."
        )

"""The submissions ledger, ``submissions/ledger.csv``: which Run made which submission file.

The leaderboard joins Kaggle's scores back to local validation through it, so a damaged ledger
(cut to zero bytes, a line half-written by another tool, a hand edit gone wrong) is not
refused: it is recovered without losing a row. The damaged file is kept, byte for byte, as
``ledger-damaged-<time>.csv``; every row of it that still parses is kept; every submission
file in the folder that no row names gets a row back (its run id is its file name; what made
it is left empty); and one line on stderr says what happened. The recovery holds the ledger's
lock, like every write of it.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_csv
from ..locks import locked

log = logging.getLogger(__name__)

LEDGER = "ledger.csv"
LEDGER_COLUMNS = ("run_id", "file", "approach", "model", "val_accuracy", "metric", "val_metric", "created_at")
"""``metric`` is the competition's metric of the Run's split and ``val_metric`` its validation score (empty in rows written before they were recorded)."""
DAMAGED_PREFIX = "ledger-damaged-"
NOT_SUBMISSIONS = frozenset({LEDGER, "leaderboard.csv"})


def read_ledger(submissions: str | Path) -> pd.DataFrame:
    """The ledger as a table (empty, with the standard columns, if nothing was submitted yet); a damaged one is recovered first."""
    path = Path(submissions) / LEDGER
    if not path.exists():
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    ledger, problem = _parse(path.read_bytes())
    if problem is None:
        return ledger
    with locked(path, "recover the damaged ledger"):
        return _recover(path, problem)


def append_ledger(submissions: str | Path, ledger: pd.DataFrame, row: dict[str, Any]) -> Path:
    """Add one row to ``ledger`` (as just read) and rewrite it atomically (new columns are added as needed)."""
    ledger = pd.concat([ledger, pd.DataFrame([row])], ignore_index=True) if len(ledger) else pd.DataFrame([row])
    return write_csv(Path(submissions) / LEDGER, ledger)


def _parse(data: bytes) -> tuple[pd.DataFrame, str | None]:
    """The ledger in ``data``, or an empty table and what is wrong with it."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"run_id": str, "file": str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS)), "it is empty (zero bytes)"
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS)), f"it is not a readable CSV file ({str(error).strip().splitlines()[0]})"
    missing = [c for c in ("run_id", "file") if c not in frame.columns]
    if missing:
        return frame, f"it has no {' or '.join(missing)} column"
    blank = frame["run_id"].isna() | frame["file"].isna()
    if blank.any():
        return frame, f"row {int(blank.to_numpy().nonzero()[0][0]) + 2} has no run_id or file"
    return frame, None


def _salvage(data: bytes) -> list[dict[str, str]]:
    """The rows of a damaged ledger that still parse: under a header naming run_id and file, with its number of fields."""
    lines = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
    if not lines or not {"run_id", "file"} <= set(lines[0]):
        return []
    header = lines[0]
    rows = [dict(zip(header, line, strict=True)) for line in lines[1:] if len(line) == len(header)]
    return [row for row in rows if row["run_id"] and row["file"]]


def _submission_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.csv") if p.name not in NOT_SUBMISSIONS and not p.name.startswith(DAMAGED_PREFIX))


def _recover(path: Path, problem: str) -> pd.DataFrame:
    data = path.read_bytes()
    ledger, problem_now = _parse(data)
    if problem_now is None:  # another command recovered it while this one waited for the lock
        return ledger
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept = path.with_name(f"{DAMAGED_PREFIX}{stamp}.csv")
    shutil.copyfile(path, kept)
    rows: Sequence[dict[str, Any]] = _salvage(data)
    named = {row["file"] for row in rows}
    found = [{"run_id": Path(name).stem, "file": name} for name in _submission_files(path.parent) if name not in named]
    recovered = pd.DataFrame([*rows, *found], columns=list(dict.fromkeys([*LEDGER_COLUMNS, *(rows[0] if rows else {})])))
    write_csv(path, recovered)
    log.warning(
        f"{path} was damaged ({problem}); it is kept as {kept.name}, and {len(rows)} row(s) of it plus "
        f"{len(found)} row(s) for submission files it did not name make the new ledger."
    )
    ledger, _ = _parse(path.read_bytes())
    return ledger

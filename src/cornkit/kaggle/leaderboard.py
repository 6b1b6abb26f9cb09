"""The comparison table: every submission with its local validation and its public/private LB.

The ledger knows which Run made which submission file and how it scored on the local
validation split; Kaggle knows how each upload scored. Submissions are joined back to the
ledger by the run id at the head of their description (``<run-id>: message``, as
``cornkit submit --kaggle`` writes it), or else by the uploaded file name ``<run-id>.csv``.
With ``work``, every Run in the work folder that was never submitted gets a row too (its
local validation only), so the table compares every approach tried.
Without credentials or network the table still has the local columns, and the reason the LB
columns are empty travels with it. A chart of local validation against public LB per approach
shows whether the split can be trusted to pick submissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_csv, write_text
from ..defaults import COMPETITION
from ..errors import CornkitError
from ..locks import locked
from ..plots import val_vs_lb_png
from ..reports.run_table import SCORE_COLUMNS
from ..runs.run import list_runs
from .client import KaggleSession, connect, kaggle_call
from .ledger import LEDGER, read_ledger
from .submit import RUN_ID_SEPARATOR

COLUMNS = ("approach", "model", "run_id", "val_accuracy", "public_lb", "private_lb", "status", "date", "description")
LEADERBOARD_CSV = "leaderboard.csv"
PAGE_SIZE = 50
MAX_PAGES = 40


@dataclass(frozen=True)
class Leaderboard:
    """The joined table, why its LB columns may be empty, and the files written from it."""

    table: pd.DataFrame
    offline_reason: str | None
    csv_path: Path
    markdown_path: Path
    png_path: Path


def fetch_submissions(session: KaggleSession, competition: str = COMPETITION) -> pd.DataFrame:
    """All of the user's submissions to ``competition``, newest first, page by page."""
    rows = []
    for page in range(1, MAX_PAGES + 1):
        batch = kaggle_call(
            session,
            f"list your submissions to {competition!r}",
            session.api.competition_submissions,
            competition,
            page_number=page,
            page_size=PAGE_SIZE,
            forbidden=f"Accept the competition rules at https://www.kaggle.com/competitions/{competition}/rules first.",
            not_found=f"There is no competition {competition!r}: check --competition (It's Corn is {COMPETITION}).",
        )
        rows += [
            {
                "ref": s.ref,
                "date": s.date.isoformat(timespec="seconds") if s.date else "",
                "description": s.description or "",
                "file_name": s.file_name or "",
                "status": s.status.name if s.status else "",
                "public_lb": pd.to_numeric(s.public_score or np.nan, errors="coerce"),
                "private_lb": pd.to_numeric(s.private_score or np.nan, errors="coerce"),
            }
            for s in batch or []
        ]
        if len(batch or []) < PAGE_SIZE:
            break
    return pd.DataFrame(rows, columns=["ref", "date", "description", "file_name", "status", "public_lb", "private_lb"])


def _run_id_of(submission: pd.Series, known: set[str]) -> str | None:
    head = str(submission["description"]).split(RUN_ID_SEPARATOR, 1)[0].strip()
    if head in known:
        return head
    stem = Path(str(submission["file_name"])).stem
    return stem if stem in known else None


def join_leaderboard(ledger: pd.DataFrame, kaggle: pd.DataFrame | None) -> pd.DataFrame:
    """One row per Kaggle submission (joined to its ledger row) plus one per unsubmitted ledger row."""
    ledger = ledger.drop_duplicates("run_id", keep="last").set_index("run_id", drop=False)
    rows, submitted = [], set()
    for _, sub in (kaggle if kaggle is not None else pd.DataFrame()).iterrows():
        run_id = _run_id_of(sub, set(ledger.index))
        local = ledger.loc[run_id] if run_id else None
        submitted.add(run_id)
        rows.append(
            {
                "approach": local["approach"] if local is not None else "(not in ledger)",
                "model": local["model"] if local is not None else "",
                "run_id": run_id or "",
                "val_accuracy": local["val_accuracy"] if local is not None else np.nan,
                "public_lb": sub["public_lb"],
                "private_lb": sub["private_lb"],
                "status": sub["status"],
                "date": sub["date"],
                "description": sub["description"],
            }
        )
    for index, local in ledger.iterrows():
        run_id = str(index)
        if run_id not in submitted:
            rows.append(
                {
                    "approach": local["approach"],
                    "model": local["model"],
                    "run_id": run_id,
                    "val_accuracy": local["val_accuracy"],
                    "public_lb": np.nan,
                    "private_lb": np.nan,
                    "status": "not submitted" if kaggle is not None else "",
                    "date": local["created_at"],
                    "description": "",
                }
            )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("val_accuracy", "public_lb", "private_lb"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table.sort_values(["public_lb", "val_accuracy"], ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def markdown_table(table: pd.DataFrame) -> str:
    """The table as GitHub markdown, scores to five decimals (as Kaggle shows them), empty cells for missing values."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.5f}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def with_unsubmitted_runs(ledger: pd.DataFrame, work: str | Path) -> pd.DataFrame:
    """The ledger plus a row for each Run under ``work`` that has no ledger row (local validation only)."""
    recorded = set(ledger["run_id"].astype(str))
    rows = [
        {
            "run_id": run.run_id,
            "file": "",
            "approach": run.approach,
            "model": run.model,
            "val_accuracy": run.metrics.get("val_accuracy", np.nan),
            "created_at": datetime.fromtimestamp(run.path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds") if run.path else "",
        }
        for run in list_runs(work)
        if run.run_id not in recorded
    ]
    return pd.concat([ledger, pd.DataFrame(rows)], ignore_index=True) if rows else ledger


def build_leaderboard(
    submissions: str | Path = "submissions",
    competition: str = COMPETITION,
    *,
    work: str | Path | None = None,
    offline: bool = False,
    session: KaggleSession | None = None,
) -> Leaderboard:
    """Join the ledger (and, with ``work``, the unsubmitted Runs) with Kaggle's scores; write ``leaderboard.csv``, ``.md`` and ``.png``."""
    submissions = Path(submissions)
    kaggle, reason = None, "--offline was given" if offline else None
    if not offline:
        try:
            kaggle = fetch_submissions(session or connect(), competition)
        except CornkitError as error:
            reason = str(error)
    # One lock for the ledger read and the three files, so they always describe the same ledger.
    with locked(submissions / LEDGER, "write the leaderboard"):
        ledger = read_ledger(submissions)
        table = join_leaderboard(ledger if work is None else with_unsubmitted_runs(ledger, work), kaggle)
        markdown = markdown_table(table)
        if reason:
            markdown += f"\nPublic and private LB are empty: {reason}\n"
        return Leaderboard(
            table=table,
            offline_reason=reason,
            csv_path=write_csv(submissions / LEADERBOARD_CSV, table),
            markdown_path=write_text(submissions / "leaderboard.md", markdown),
            png_path=val_vs_lb_png(table, submissions / "leaderboard.png"),
        )


def submitted_scores(submissions: str | Path = "submissions") -> pd.DataFrame:
    """What is known about each recorded submission, for the report: one row per run id of the ledger.

    Columns: ``run_id``, ``approach``, ``model``, ``val_accuracy`` (from the ledger),
    ``public_lb`` and ``private_lb`` (from the last ``cornkit leaderboard``'s ``leaderboard.csv``;
    empty until it fetched them; of the newest scored upload when a Run was uploaded twice), and
    ``test_rows``, the rows of the submission file: the test set the scores are fractions of.
    """
    submissions = Path(submissions)
    if not (submissions / LEDGER).is_file():  # nothing submitted: no lock file made in a folder that may not exist
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("run_id", "approach", "model") else float) for c in SCORE_COLUMNS})
    with locked(submissions / LEDGER, "read the ledger and the leaderboard", optional=True):
        ledger = read_ledger(submissions).drop_duplicates("run_id", keep="last")
        board = pd.read_csv(submissions / LEADERBOARD_CSV, dtype={"run_id": str}) if (submissions / LEADERBOARD_CSV).is_file() else None
    scores = ledger[["run_id", "approach", "model", "val_accuracy"]].copy()
    if board is not None and len(board):
        board = board.assign(scored=board["public_lb"].notna()).sort_values(["scored", "date"], ascending=False, kind="stable")
        board = board.drop_duplicates("run_id").set_index("run_id")
        for column in ("public_lb", "private_lb"):
            scores[column] = pd.to_numeric(scores["run_id"].map(board[column]), errors="coerce")
    else:
        scores["public_lb"] = scores["private_lb"] = np.nan
    scores["test_rows"] = [_data_rows(submissions / str(name)) for name in ledger["file"]]
    return scores.reset_index(drop=True)


def _data_rows(csv_path: Path) -> float:
    """Rows of a CSV below its header (NaN if it is gone)."""
    try:
        return float(max(0, csv_path.read_bytes().rstrip(b"\n").count(b"\n")))
    except OSError:
        return np.nan

"""The comparison table: every submission with its local validation and its public/private LB.

The ledger knows which Run made which submission file and how it scored on the local
validation split; Kaggle knows how each upload scored. Submissions are joined back to the
ledger by the run id at the head of their description (``<run-id>: message``, as
``cornkit submit --kaggle`` writes it), or else by the uploaded file name ``<run-id>.csv``.
Without credentials or network the table still has the local columns, and the reason the LB
columns are empty travels with it. A chart of local validation against public LB per approach
shows whether the split can be trusted to pick submissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .atomic import atomic_path, write_csv, write_text  # noqa: E402
from .errors import CornkitError  # noqa: E402
from .kaggle_client import COMPETITION, KaggleSession, connect, kaggle_call  # noqa: E402
from .kaggle_submit import RUN_ID_SEPARATOR  # noqa: E402
from .submission import read_ledger  # noqa: E402

COLUMNS = ("approach", "model", "run_id", "val_accuracy", "public_lb", "private_lb", "status", "date", "description")
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
    for run_id, local in ledger.iterrows():
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


def val_vs_lb_png(table: pd.DataFrame, path: Path) -> Path:
    """Local validation accuracy against public LB, one colour per approach, with the y = x line."""
    scored = table.dropna(subset=["val_accuracy", "public_lb"])
    fig, ax = plt.subplots(figsize=(6, 5))
    for approach, group in scored.groupby("approach", sort=True):
        ax.scatter(group["val_accuracy"], group["public_lb"], label=approach, s=40)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="LB = validation")
    if scored.empty:
        ax.text(0.5, 0.5, "no submission has both a validation\nand a public LB score yet", ha="center", va="center")
    ax.set_xlim(0, 1.03)  # room for markers at 1.0
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("local validation accuracy")
    ax.set_ylabel("public LB accuracy")
    ax.set_title("Does the validation split predict the leaderboard?")
    ax.legend(loc="lower right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def build_leaderboard(
    submissions: str | Path = "submissions",
    competition: str = COMPETITION,
    *,
    offline: bool = False,
    session: KaggleSession | None = None,
) -> Leaderboard:
    """Join the ledger with Kaggle's scores and write ``leaderboard.csv``, ``.md`` and ``.png``."""
    submissions = Path(submissions)
    kaggle, reason = None, "--offline was given" if offline else None
    if not offline:
        try:
            kaggle = fetch_submissions(session or connect(), competition)
        except CornkitError as error:
            reason = str(error)
    table = join_leaderboard(read_ledger(submissions), kaggle)
    markdown = markdown_table(table)
    if reason:
        markdown += f"\nPublic and private LB are empty: {reason}\n"
    return Leaderboard(
        table=table,
        offline_reason=reason,
        csv_path=write_csv(submissions / "leaderboard.csv", table),
        markdown_path=write_text(submissions / "leaderboard.md", markdown),
        png_path=val_vs_lb_png(table, submissions / "leaderboard.png"),
    )

"""Upload a checked submission to the competition, labelled with the run id that made it.

The description Kaggle stores is ``<run-id>: <message>`` and the uploaded file is named
``<run-id>.csv``, so :mod:`cornkit.leaderboard` can join Kaggle's scores back to the ledger
(and through it to the local validation accuracy). A file that fails the kit's validator is
refused before anything is uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..data.dataset import Dataset
from ..defaults import COMPETITION
from ..errors import CornkitError
from ..runs.run import load_run
from .client import KaggleSession, connect, kaggle_call
from .ledger import read_ledger
from .submission import validate_for_dataset, write_submission

RUN_ID_SEPARATOR = ": "


@dataclass(frozen=True)
class KaggleSubmission:
    """What was uploaded, under which description, and Kaggle's reference for it."""

    path: Path
    run_id: str
    description: str
    ref: int
    message: str


def describe(run_id: str, message: str) -> str:
    """The submission description: the run id first, so the leaderboard can find it again."""
    return f"{run_id}{RUN_ID_SEPARATOR}{message}"


def find_or_write_submission(run: str, work: str | Path, dataset: Dataset, submissions: str | Path) -> tuple[Path, str]:
    """The submission file of ``run`` and its run id.

    A run id already in the ledger (e.g. a kernel's output, whose Run is not local) uses the
    file recorded there; otherwise the local Run is turned into ``submissions/<run-id>.csv``.
    """
    ledger = read_ledger(submissions)
    recorded = ledger[ledger["run_id"] == str(run)]
    if len(recorded) and (Path(submissions) / str(recorded["file"].iloc[-1])).is_file():
        return Path(submissions) / str(recorded["file"].iloc[-1]), str(run)
    written = write_submission(load_run(run, work), dataset, submissions)
    return written.path, written.run_id


def check_submission_file(path: Path, dataset: Dataset) -> None:
    """Refuse a file Kaggle would reject or mis-score (wrong columns, ids, order or labels)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)  # labels verbatim: "01" stays "01"
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CornkitError(f"{path} is not a readable CSV file ({error}); nothing was uploaded.") from None
    try:
        validate_for_dataset(frame, dataset, str(path))
    except CornkitError as error:
        raise CornkitError(f"{error} Nothing was uploaded.") from None


def submit_to_kaggle(
    run: str,
    message: str,
    *,
    work: str | Path,
    dataset: Dataset,
    submissions: str | Path = "submissions",
    competition: str = COMPETITION,
    session: KaggleSession | None = None,
) -> KaggleSubmission:
    """Check the submission of ``run`` and upload it with the official client."""
    if not message.strip():
        raise CornkitError("-m/--message is empty: say what this submission is (the run id is added to it).")
    path, run_id = find_or_write_submission(run, work, dataset, submissions)
    check_submission_file(path, dataset)
    session = session or connect()
    description = describe(run_id, message.strip())
    response = kaggle_call(
        session,
        f"submit {path.name} to {competition!r}",
        session.api.competition_submit,
        str(path),
        description,
        competition,
        quiet=True,
        forbidden=f"Accept the competition rules at https://www.kaggle.com/competitions/{competition}/rules, then submit again.",
        not_found=f"There is no competition {competition!r}: check --competition (It's Corn is {COMPETITION}).",
    )
    if not response.ref:
        raise CornkitError(f"Kaggle did not accept {path.name} ({response.message or 'upload failed'}); try again later.")
    return KaggleSubmission(path=path, run_id=run_id, description=description, ref=int(response.ref), message=response.message)

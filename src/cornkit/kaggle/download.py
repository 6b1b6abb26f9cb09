"""Get the competition files into a data folder, once.

``cornkit download`` asks the official client for the competition's zip and unpacks it into
the data folder (Kaggle ships It's Corn as ``corn/train.csv`` and so on). A second call finds
``sample_submission.csv`` and does nothing. Inside a Kaggle kernel the files are already mounted read-only
under ``/kaggle/input/<competition>``, so that folder is used and nothing is downloaded.
Beside the files it records the competition's evaluation metric as the API reports it
(:mod:`cornkit.data.competition_record`), for ``cornkit split`` to score by.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_dir, write_json
from ..data.competition_record import RECORD
from ..data.dataset import find_competition_root
from ..defaults import COMPETITION, KAGGLE_INPUT
from ..errors import CornkitError
from .client import KaggleSession, connect, kaggle_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadResult:
    """The competition folder (the one holding ``sample_submission.csv``), and how it got there: mounted, present or downloaded."""

    root: Path
    action: str


def download_competition(
    data: str | Path,
    competition: str = COMPETITION,
    *,
    input_root: str | Path = KAGGLE_INPUT,
    session: KaggleSession | None = None,
) -> DownloadResult:
    """Make sure the competition files are available; return the competition folder (the one holding ``sample_submission.csv``)."""
    mounted = find_competition_root(Path(input_root) / competition)
    if mounted is not None:
        return DownloadResult(mounted, "mounted")
    data = Path(data)
    present = find_competition_root(data)
    if present is not None:
        return DownloadResult(present, "present")
    if data.exists() and any(data.iterdir()):
        raise CornkitError(f"{data} is not empty but holds no competition (no sample_submission.csv): give an empty or new folder as --data.")

    session = session or connect()
    with tempfile.TemporaryDirectory(prefix="cornkit-download-") as tmp:
        kaggle_call(
            session,
            f"download the files of competition {competition!r}",
            session.api.competition_download_files,
            competition,
            path=tmp,
            force=True,
            quiet=True,
            forbidden=f"Accept the competition rules at https://www.kaggle.com/competitions/{competition}/rules, then run this again.",
            not_found=f"There is no competition {competition!r}: check --competition (It's Corn is {COMPETITION}).",
        )
        archives = sorted(Path(tmp).glob("*.zip"))
        if not archives:
            raise CornkitError(f"the Kaggle client downloaded no zip for {competition!r}; run this again.")
        with atomic_dir(data) as folder:
            try:
                with zipfile.ZipFile(archives[0]) as archive:
                    archive.extractall(folder)
            except zipfile.BadZipFile as error:
                raise CornkitError(f"the downloaded {archives[0].name} is damaged ({error}); run this again.") from None
    root = find_competition_root(data)
    if root is None:
        raise CornkitError(f"the files of {competition!r} hold no sample_submission.csv (see {data}); is it an image classification competition?")
    write_json(root / RECORD, {"competition": competition, "evaluation_metric": _evaluation_metric(session, competition)})
    return DownloadResult(root, "downloaded")


def _evaluation_metric(session: KaggleSession, competition: str) -> str | None:
    """The competition's evaluation metric as Kaggle's API names it ("Multiclass Loss"); None (said in one line) when it cannot be read.

    Not reading it costs only the default (``cornkit split --metric`` still chooses), so it never fails the download.
    """
    try:
        listed = kaggle_call(session, f"read the evaluation metric of {competition!r}", session.api.competitions_list, search=competition, category="all")
    except CornkitError as error:
        log.warning("%s; cornkit split scores by accuracy unless given --metric.", error)
        return None
    for entry in listed.competitions if listed is not None else []:
        if entry.ref.rstrip("/").rsplit("/", 1)[-1] == competition:  # Kaggle's ref is the competition's URL
            return entry.evaluation_metric or None
    log.warning("Kaggle's competition list does not name %r; cornkit split scores by accuracy unless given --metric.", competition)
    return None

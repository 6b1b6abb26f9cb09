"""``cornkit report``: every Run of a work folder on one HTML page, each score with its interval.

The page is one file plus one folder of images beside it (``report.html`` and
``report_files/``): it opens from ``file://`` with no server and no internet, and it can be
zipped or attached as it is. Images are copied, not embedded, so a page of 200 Runs stays a
few hundred kilobytes of HTML; each is lazy-loaded (the browser fetches it when it scrolls
into view) and shown as a thumbnail that links to the full picture. Everything that comes from
the user (class names, run ids, parameters, file names) goes through Jinja2's autoescaping, so
a class called ``<script>`` is text. The table sorts by any column with a few lines of plain
JavaScript in the page.

The folder is swapped in whole (:func:`cornkit.atomic.atomic_dir`) and then the page is written
atomically, so a reader never sees a page pointing at half a folder of images.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_dir, write_text
from ..data.split import load_split
from ..defaults import COMPETITION, DEFAULT_SEED, PUBLIC_LB_FRACTION
from ..errors import CornkitError
from ..plots import val_vs_lb_png
from ..runs.competition_metric import get_metric
from ..runs.run import Run, list_runs
from .folder import REPORTS_DIR
from .run_table import BOOTSTRAP, MCNEMAR, METRIC_COLUMNS, Versus, run_table

REPORT_HTML = "report.html"
TEMPLATE = "report.html.j2"
RUN_CONFUSION_PNG = "confusion.png"
"""``cornkit score``'s picture of the confusion matrix; the page draws the matrix as a table for every Run instead."""
WORK_FIGURES = {
    "shots": "few-shot curve (cornkit shots)",
    "dupes": "near-duplicate pairs (cornkit dupes)",
    "comparison": "prompt sets (cornkit prompts compare)",
    "history": "a sweep's objective, trial by trial (cornkit sweep show)",
    "importance": "which parameters mattered in a sweep (cornkit sweep show)",
}
"""Pictures of the work folder's reports, by file stem, with what made them."""
RUN_FIGURES = {"misclassified": "misclassified validation images (cornkit score)", "wise": "WiSE-FT: monitor accuracy against α"}
"""Pictures in a Run folder, by file stem; any other picture there is shown under its file name."""
PROMPTS_DIR = "prompts"
SWEEPS_DIR = "sweeps"
TRIALS_CSV = "trials.csv"
"""``cornkit sweep show`` writes each study's trials table and plots to ``WORK/sweeps/STUDY/``."""


@dataclass(frozen=True)
class Figure:
    """An image of the page: its URL relative to the page, and what it shows."""

    src: str
    caption: str


@dataclass(frozen=True)
class StudySection:
    """A sweep's study as ``cornkit sweep show`` last wrote it: its trials table and Optuna's plots."""

    name: str
    columns: list[str]
    rows: list[list[str]]
    figures: list[Figure]


@dataclass
class RunSection:
    """What the page shows for one Run below the table."""

    anchor: str
    row: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    weights: list[tuple[str, float]] = field(default_factory=list)
    config_json: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportPage:
    """The page written, the folder of its images, and the table it shows."""

    path: Path
    files: Path
    table: pd.DataFrame


def _copy(source: Path, folder: Path, name: str, public_name: str, caption: str) -> Figure:
    """Copy ``source`` into the images folder under ``name`` and return it as a figure."""
    shutil.copyfile(source, folder / name)
    return Figure(f"{quote(public_name)}/{quote(name)}", caption)


def _run_section(index: int, run: Run | None, row: dict[str, Any], folder: Path, public_name: str) -> RunSection:
    section = RunSection(anchor=f"run-{index}", row=row)
    if run is None:
        section.notes.append("Only the ledger knows this submission (made in a Kaggle kernel or another work folder): no validation rows here.")
        return section
    section.classes = list(run.classes)
    section.confusion = row["confusion"]
    section.config_json = json.dumps(run.config, indent=2, sort_keys=True, default=str)
    section.weights = sorted(((str(k), float(v)) for k, v in (run.metrics.get("weights") or {}).items()), key=lambda kv: -kv[1])
    pictures = sorted(p for p in (run.path.glob("*.png") if run.path else ()) if p.name != RUN_CONFUSION_PNG)
    for picture in pictures:
        section.figures.append(_copy(picture, folder, f"{section.anchor}-{picture.name}", public_name, RUN_FIGURES.get(picture.stem, picture.name)))
    if not any(p.name == "misclassified.png" for p in pictures):
        section.notes.append(f"No misclassified gallery yet: `cornkit score {run.run_id} --data DIR` draws it.")
    return section


def _work_figures(work: Path, folder: Path, public_name: str) -> list[Figure]:
    """The pictures of ``cornkit shots``, ``dupes`` and ``prompts compare`` in the work folder."""
    pictures = [picture for folder in (REPORTS_DIR, PROMPTS_DIR) for picture in sorted((work / folder).glob("*/*.png"))]
    return [
        _copy(p, folder, f"work-{i}-{p.name}", public_name, f"{WORK_FIGURES.get(p.stem, p.stem)}: {p.parent.name}/{p.name}") for i, p in enumerate(pictures)
    ]


def _cell(text: str) -> str:
    """A trials-table cell: numbers to four significant digits, anything else as written."""
    try:
        return f"{float(text):.4g}" if text not in ("", "True", "False") else text
    except ValueError:
        return text


def _studies(work: Path, folder: Path, public_name: str) -> list[StudySection]:
    """Every study that ``cornkit sweep show`` wrote under ``WORK/sweeps/``."""
    studies = []
    for i, table_path in enumerate(sorted((work / SWEEPS_DIR).glob(f"*/{TRIALS_CSV}"))):
        frame = pd.read_csv(table_path, dtype=str, keep_default_na=False)
        name = table_path.parent.name
        figures = [
            _copy(p, folder, f"sweep-{i}-{p.name}", public_name, f"{WORK_FIGURES.get(p.stem, p.stem)}: {name}") for p in sorted(table_path.parent.glob("*.png"))
        ]
        studies.append(StudySection(name, [str(c) for c in frame.columns], [[_cell(v) for v in row] for row in frame.to_numpy().tolist()], figures))
    return studies


def _split_summary(work: Path) -> str:
    try:
        split = load_split(work)
    except CornkitError as error:
        return str(error)
    seed, folds = split.params.get("seed", "?"), split.frame["fold"]
    if split.n_folds > 1:
        return f"{split.n_folds}-fold split {split.split_id}, seed {seed}: {len(folds)} rows, each scored out of fold"
    return f"holdout split {split.split_id}, seed {seed}: {int((folds < 0).sum())} training / {int((folds >= 0).sum())} validation rows"


def _number(value: float, digits: int = 4) -> str:
    return "" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _interval(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return "" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


def _versus_cell(versus: Versus | str) -> dict[str, Any]:
    """The "vs best" cell: the gap in the split's metric to the best Run and the paired test's p, its sort value, and whether the gap is noise."""
    if isinstance(versus, str):
        return {"text": versus, "sort": "", "title": versus, "noise": False}
    interval = "" if versus.interval is None else f", 95 % interval of the {versus.metric} gap {_interval(versus.interval)}"
    title = f"{versus.verdict}: p = {versus.p_value:.3g} against {versus.best}{interval}"
    return {"text": f"{versus.difference:+.4f}, p={versus.p_value:.2g}", "sort": f"{versus.difference:.6f}", "title": title, "noise": not versus.beyond_noise}


def metric_header(table: pd.DataFrame) -> dict[str, Any]:
    """What the page says of the competition's metric: its name, its column's header, whether it leads the table, which way is better, the paired test.

    It leads (and the rows come sorted by it, best first) when every Run shares one metric other than accuracy.
    """
    names = {str(name) for name in table["metric"] if name}
    name = names.pop() if len(names) == 1 else ""
    leads = bool(name) and list(table.columns).index(METRIC_COLUMNS[0]) < list(table.columns).index("val_accuracy")
    metric = get_metric(name) if name else None
    better = "" if metric is None else "higher" if metric.greater_is_better else "lower"
    test = "" if metric is None else MCNEMAR if metric.per_row else BOOTSTRAP
    return {"metric": name, "metric_header": f"val_{name}" if name else "", "metric_leads": leads, "metric_better": better, "metric_test": test}


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("cornkit", "reports"), autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters.update(number=_number, interval=_interval, versus=_versus_cell)
    return environment


def render_page(
    sections: Sequence[RunSection], figures: Sequence[Figure], lb_figure: Figure | None, *, header: dict[str, Any], studies: Sequence[StudySection] = ()
) -> str:
    """The HTML of the page: the table (one row per section, in order), the plots, the sweeps' studies, then each Run's section."""
    return _environment().get_template(TEMPLATE).render(sections=sections, figures=figures, lb_figure=lb_figure, studies=studies, **header)


def write_report(
    work: str | Path = "work",
    out: str | Path | None = None,
    *,
    scores: pd.DataFrame | None = None,
    public_frac: float = PUBLIC_LB_FRACTION,
    competition: str = COMPETITION,
    seed: int = DEFAULT_SEED,
) -> ReportPage:
    """Write the page of every Run under ``work`` to ``out`` (default ``WORK/report.html``) and its images beside it.

    ``scores`` are the submissions' known scores (``cornkit.kaggle.leaderboard.submitted_scores``);
    ``seed`` seeds the balanced-accuracy bootstrap, so the same Runs give the same page.
    """
    work = Path(work)
    out = Path(out) if out is not None else work / REPORT_HTML
    if out.is_dir() or out.suffix.lower() not in {".html", ".htm"}:
        raise CornkitError(f"--out {out}: give the path of an .html file to write (its images go to a folder beside it).")
    runs = list_runs(work)
    table = run_table(runs, scores, public_frac, seed=seed)
    files = out.parent / f"{out.stem}_files"
    by_id = {run.run_id: run for run in runs}  # the table may sort its rows by the competition's metric
    with atomic_dir(files) as folder:
        rows: list[dict[str, Any]] = table.to_dict("records")  # type: ignore[assignment]  # the column names are str
        sections = [_run_section(i, by_id.get(str(row["run_id"])), row, folder, files.name) for i, row in enumerate(rows)]
        figures = _work_figures(work, folder, files.name)
        studies = _studies(work, folder, files.name)
        lb_figure = None
        if table["public_lb"].notna().any():
            val_vs_lb_png(table, folder / "val_vs_lb.png")
            lb_figure = Figure(f"{quote(files.name)}/val_vs_lb.png", "local validation accuracy against public LB, every submission")
    header = {
        **metric_header(table),
        "competition": competition,
        "version": __version__,
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "split": _split_summary(work),
        "work": str(work),
        "public_frac": public_frac,
        "default_frac": public_frac == PUBLIC_LB_FRACTION,
        "scored": bool(table["public_lb"].notna().any()),
        "submitted": bool(scores is not None and len(scores)),
    }
    path = write_text(out, render_page(sections, figures, lb_figure, header=header, studies=studies))
    return ReportPage(path=path, files=files, table=table)

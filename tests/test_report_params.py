"""`cornkit report`'s "key parameters" cell: within an approach, what differs between its Runs comes first, and whole."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from cornkit.reports.page import write_report
from cornkit.runs.run import save_run
from test_report import synthetic_run


class _ParameterCells(HTMLParser):
    """The text of each Runs-table row's key-parameters cell, by run id, and of its ``differs`` part."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, str] = {}
        self.differs: dict[str, str] = {}
        self._run = ""
        self._in: str | None = None  # "cell" or "differs" while inside one

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-run"):
            self._run = str(found["data-run"])
            self.cells[self._run] = self.differs[self._run] = ""
        elif tag == "td" and found.get("class") == "params":
            self._in = "cell"
        elif tag == "span" and self._in and found.get("class") == "differs":
            self._in = "differs"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in = None
        elif tag == "span" and self._in == "differs":
            self._in = "cell"

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells[self._run] += data
        if self._in == "differs":
            self.differs[self._run] += data


def test_two_probes_differing_only_in_cs_show_cs_first_and_whole(tmp_path: Path) -> None:
    labels = ["a", "b"] * 10
    narrow = synthetic_run("probe", labels, labels, cs=(0.1, 1.0), alpha=1.0, cv_folds=5, class_weight="balanced")
    wide = synthetic_run("probe", labels, labels, cs=(1.0, 10.0, 100.0), alpha=1.0, cv_folds=5, class_weight="balanced")
    alone = synthetic_run("zeroshot", labels, labels, alpha=0.5, templates=["a photo of {}"])
    for run in (narrow, wide, alone):
        save_run(run, tmp_path / "work")
    page = write_report(tmp_path / "work", tmp_path / "page.html")
    cells = _ParameterCells()
    cells.feed(page.path.read_text())

    assert cells.cells[narrow.run_id].startswith("cs=[0.1, 1.0]")
    assert cells.cells[wide.run_id].startswith("cs=[1.0, 10.0, 100.0]")
    assert cells.cells[narrow.run_id] != cells.cells[wide.run_id]
    assert "alpha=1.0" in cells.cells[narrow.run_id] and "alpha=1.0" in cells.cells[wide.run_id]  # the rest still follows
    # The differing part is outside the truncated rest, so a narrow cell never hides it.
    assert (cells.differs[narrow.run_id], cells.differs[wide.run_id]) == ("cs=[0.1, 1.0]", "cs=[1.0, 10.0, 100.0]")
    # A Run alone in its approach: nothing to tell apart, the scalar settings by name as before (the nested templates left out).
    assert (cells.differs[alone.run_id], cells.cells[alone.run_id]) == ("", "alpha=0.5, seed=0")
    assert str(page.table.set_index("run_id").loc[narrow.run_id, "parameters"]) == "cs=[0.1, 1.0], alpha=1.0, class_weight=balanced, cv_folds=5, seed=0"

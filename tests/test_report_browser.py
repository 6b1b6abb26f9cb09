"""The report page in a real browser: headless Chromium driven by Selenium.

Skipped, with the reason, where Debian's ``chromium`` / ``chromium-driver`` or Selenium is
missing (``.ci/run`` installs them). ``CORNKIT_REPORT_WORK=demo/work`` runs the same checks on
another work folder (its submissions are the folder's sibling ``submissions/``), and
``CORNKIT_REPORT_SCREENSHOT=docs/report.png`` keeps the screenshot: the README's is the demo's
page, taken this way.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cornkit.atomic import write_csv
from cornkit.cli import main
from cornkit.data.dataset import load_dataset
from cornkit.data.split import make_split
from cornkit.kaggle.leaderboard import LEADERBOARD_CSV, join_leaderboard
from cornkit.kaggle.submission import read_ledger, write_submission
from cornkit.runs.run import make_run, save_run
from cornkit.runs.scoring import score_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
HOSTILE = "<script>alert(1)</script>"
RUNS_LINE = re.compile(r"^(\S+)\s+.*\bval_accuracy (\d\.\d{4})$")


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """A headless Chromium that keeps the page's console log; never lets Selenium Manager download a driver."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="cornkit-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield browser
        finally:
            browser.quit()


def _synthetic_work(corn_dir: Path, root: Path) -> tuple[Path, Path]:
    """Four Runs of unsorted accuracy (one with a hostile approach name), two scored and submitted with LB scores."""
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, root / "work")
    rows = split.validation_rows()
    classes = list(dataset.classes)
    rng = np.random.default_rng(0)
    runs = []
    for approach, skill in (("probe", 0.6), ("zeroshot", 0.1), (HOSTILE, 0.9), ("gda", 0.4)):
        truth = np.array([classes.index(label) for label in rows.labels])
        guess = np.where(rng.random(len(truth)) < skill, truth, rng.integers(0, len(classes), len(truth)))
        val = np.full((len(truth), len(classes)), 0.1 / (len(classes) - 1))
        val[np.arange(len(truth)), guess] = 0.9
        test_ids = dataset.ids("test")
        test = rng.dirichlet(np.ones(len(classes)), size=len(test_ids))
        run = make_run(
            approach=approach,
            model="m",
            classes=classes,
            split=split,
            val_probs=val,
            test_ids=test_ids,
            test_probs=test,
            config={"note": f"{HOSTILE} a|b"},
            seed=0,
        )
        save_run(run, root / "work")
        runs.append(run)
    kaggle = []
    for run, public in zip(runs[:2], (0.55, 0.3), strict=True):
        score_run(run, dataset, max_images=6)
        write_submission(run, dataset, root / "submissions")
        kaggle.append({"ref": 1, "date": "2026-01-01", "description": f"{run.run_id}: test", "file_name": f"{run.run_id}.csv", "status": "COMPLETE"})
        kaggle[-1] |= {"public_lb": public, "private_lb": public - 0.02}
    write_csv(root / "submissions" / LEADERBOARD_CSV, join_leaderboard(read_ledger(root / "submissions"), pd.DataFrame(kaggle)))
    return root / "work", root / "submissions"


@pytest.mark.slow
def test_the_report_page_in_chromium(driver: Any, corn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    given = os.environ.get("CORNKIT_REPORT_WORK")
    work, submissions = (Path(given), Path(given).parent / "submissions") if given else _synthetic_work(corn_dir, tmp_path)
    assert main(["runs", "--work", str(work)]) == 0
    listed = dict(m.groups() for line in capsys.readouterr().out.splitlines() if (m := RUNS_LINE.match(line)))
    assert main(["report", "--work", str(work), "--submissions", str(submissions), "--out", str(tmp_path / "page" / "report.html")]) == 0
    page = Path(capsys.readouterr().out.splitlines()[-1])

    driver.get(page.resolve().as_uri())
    columns = [th.get_attribute("data-column") for th in driver.find_elements(By.CSS_SELECTOR, "#runs thead th")]

    def cells(name: str) -> list[Any]:
        """The column ``name`` of the table, top to bottom."""
        return driver.find_elements(By.CSS_SELECTOR, f"#runs tbody td:nth-child({columns.index(name) + 1})")

    table_rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    local = [row for row, trained in zip(table_rows, cells("trained"), strict=True) if trained.text == "local"]
    shown = {row.get_attribute("data-run"): row.find_element(By.CSS_SELECTOR, ".score").text for row in local}
    assert len(local) == len(listed) and shown == listed  # one row per Run, the numbers `cornkit runs` prints

    driver.execute_script("for (const image of document.images) image.loading = 'eager';")  # load what lazy loading defers
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
    widths = driver.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert widths and all(width > 0 for _, width in widths), widths

    def order() -> list[tuple[str, float]]:
        rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        return [(r.get_attribute("data-run"), float(c.get_attribute("data-v") or "nan")) for r, c in zip(rows, cells("val_accuracy"), strict=True)]

    sort = driver.find_element(By.CSS_SELECTOR, "th[data-column=val_accuracy] button")
    sort.click()
    ascending = order()
    sort.click()
    descending = order()
    assert [v for _, v in ascending] == sorted(v for _, v in ascending)
    assert [v for _, v in descending] == sorted((v for _, v in descending), reverse=True)
    assert len({v for _, v in ascending}) < 2 or ascending != descending

    if not given:
        assert HOSTILE in [c.text for c in cells("approach")]  # shown as text, not run
        public = [c.text for c in cells("public_lb") if c.text]
        assert len(public) == 2 and all(re.fullmatch(r"0\.\d{5}\s+\[0\.\d{3}, 0\.\d{3}\]", text) for text in public), public  # with intervals

    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    driver.execute_script("setTimeout(() => { throw new Error('cornkit-probe'); });")  # the log does catch an error
    WebDriverWait(driver, 5).until(lambda d: any("cornkit-probe" in e["message"] for e in d.get_log("browser")))

    driver.execute_script("window.scrollTo(0, 0);")
    screenshot = Path(os.environ.get("CORNKIT_REPORT_SCREENSHOT") or tmp_path / "report.png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

"""`cornkit report`: the intervals and the paired test against independent references, escaping, scale, the command."""

from __future__ import annotations

import math
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from conftest import validation_rows
from cornkit.atomic import write_csv
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.kaggle.leaderboard import LEADERBOARD_CSV, submitted_scores
from cornkit.kaggle.submission import LEDGER
from cornkit.reports.page import write_report
from cornkit.reports.run_table import Versus, run_table
from cornkit.runs.intervals import balanced_accuracy_interval, mcnemar_exact, score_interval, wilson_interval
from cornkit.runs.run import Run, make_run, save_run

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def synthetic_run(approach: str, labels: list[str], predicted: list[str], *, classes: list[str] | None = None, n_test: int = 10, **config: object) -> Run:
    """A Run that predicts ``predicted`` for validation rows 1..n (probability 0.7 on the predicted class)."""
    classes = classes or sorted(set(labels))
    probs = np.full((len(labels), len(classes)), 0.3 / (len(classes) - 1))
    probs[np.arange(len(labels)), [classes.index(p) for p in predicted]] = 0.7
    return make_run(
        approach=approach,
        model="m",
        classes=classes,
        split=validation_rows(list(range(1, len(labels) + 1)), labels, "split-a"),
        val_probs=probs,
        test_ids=list(range(1000, 1000 + n_test)),
        test_probs=np.full((n_test, len(classes)), 1 / len(classes)),
        config=dict(config),
        seed=0,
    )


def test_wilson_interval_of_75_in_100_matches_the_formula_and_statsmodels() -> None:
    p, n = 0.75, 100
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    low, high = wilson_interval(75, 100)
    assert low == pytest.approx(centre - half, abs=1e-12) and high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.6570, 0.8245)  # statsmodels' proportion_confint(75, 100, method="wilson")
    assert score_interval(0.75, 100) == (low, high)  # a leaderboard score of 0.75 on 100 rows is 75 of them
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == pytest.approx(1.0)  # stays inside [0, 1]


def test_mcnemar_exact_matches_a_hand_computed_example() -> None:
    # 20 rows: both right on 5, both wrong on 3, only the first right on 2, only the second on 10.
    first = [1] * 5 + [0] * 3 + [1] * 2 + [0] * 10
    second = [1] * 5 + [0] * 3 + [0] * 2 + [1] * 10
    # 12 discordant rows split 2/10: two-sided p = 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    test = mcnemar_exact(first, second)
    assert (test.only_first, test.only_second, test.rows_apart) == (2, 10, -8)
    assert test.p_value == pytest.approx(2 * 79 / 4096, abs=1e-12)
    assert mcnemar_exact(second, first).p_value == test.p_value
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0  # no disagreement: no evidence either way


def test_balanced_accuracy_interval_holds_the_score_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    truth = rng.choice(["a", "b", "c"], size=300, p=[0.6, 0.3, 0.1])
    predicted = np.where(rng.random(300) < 0.7, truth, rng.choice(["a", "b", "c"], size=300))
    low, high = balanced_accuracy_interval(truth, predicted, seed=1)
    recall = np.mean([np.mean(predicted[truth == c] == c) for c in "abc"])
    assert low < recall < high < 1 and high - low < 0.25
    assert balanced_accuracy_interval(truth, predicted, seed=1) == (low, high)
    assert balanced_accuracy_interval(truth, truth) == (1.0, 1.0)


def test_the_run_table_pairs_runs_on_their_rows_and_scores_the_lb_on_its_share(tmp_path: Path) -> None:
    labels = ["a", "b"] * 20
    best = synthetic_run("probe", labels, labels[:30] + ["a"] * 10)  # wrong on 5 'b' rows
    worse = synthetic_run("zeroshot", labels, ["a"] * 40)  # wrong on every 'b' row
    scores = pd.DataFrame(
        {
            "run_id": [best.run_id, "kernel-probe-x"],
            "approach": ["probe", "probe"],
            "model": ["m", "m"],
            "val_accuracy": [0.875, 0.9],
            "public_lb": [0.8, 0.7],
            "private_lb": [0.75, np.nan],
            "test_rows": [100.0, 100.0],
        }
    )
    table = run_table([best, worse], scores, 0.3).set_index("run_id")
    assert table.loc[best.run_id, "val_interval"] == wilson_interval(35, 40)
    assert table.loc[best.run_id, "versus"] == "best on its split"
    assert table.loc[worse.run_id, "confusion"] == confusion_matrix(labels, ["a"] * 40, labels=["a", "b"]).tolist()
    versus = table.loc[worse.run_id, "versus"]
    assert isinstance(versus, Versus) and versus.best == best.run_id
    assert versus.difference == pytest.approx(-15 / 40) and versus.p_value == mcnemar_exact([0] * 15, [1] * 15).p_value
    assert table.loc[best.run_id, "public_interval"] == wilson_interval(24, 30)  # 0.8 of 30 public rows
    assert table.loc[best.run_id, "private_interval"] == wilson_interval(52, 70)  # round(0.75 * 70) of the other 70
    assert table.loc["kernel-probe-x", "trained"] == "kernel" and np.isnan(table.loc["kernel-probe-x", "private_interval"][0])
    assert np.isnan(table.loc[worse.run_id, "public_lb"])
    with pytest.raises(CornkitError, match="--public-frac 1"):
        run_table([best], None, 1.0)


def test_submitted_scores_join_the_ledger_the_leaderboard_and_the_submission_rows(tmp_path: Path) -> None:
    write_csv(tmp_path / "r1.csv", pd.DataFrame({"seed_id": range(7), "label": "a"}))
    ledger = pd.DataFrame({"run_id": ["r1", "r2"], "file": ["r1.csv", "r2.csv"], "approach": ["p", "z"], "model": ["m", "m"]})
    write_csv(tmp_path / LEDGER, ledger.assign(val_accuracy=[0.8, 0.5], created_at="2026-01-01"))
    board = pd.DataFrame({"run_id": ["r1", "r1"], "public_lb": [np.nan, 0.7], "private_lb": [np.nan, 0.6], "date": ["2026-01-03", "2026-01-02"]})
    write_csv(tmp_path / LEADERBOARD_CSV, board)
    scores = submitted_scores(tmp_path).set_index("run_id")
    assert scores.loc["r1", ["public_lb", "private_lb", "test_rows"]].tolist() == [0.7, 0.6, 7.0]  # the scored upload, 7 data rows
    assert scores.loc["r2", ["public_lb", "test_rows"]].isna().all()  # not uploaded, its file gone


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_hostile_labels_ids_and_parameters_render_as_text(tmp_path: Path) -> None:
    hostile = ["<script>alert(1)</script>", "a|b"]
    run = synthetic_run("<b>probe</b>", hostile * 5, hostile * 5, note="<img src=x onerror=alert(2)>")
    save_run(run, tmp_path / "work")
    page = write_report(tmp_path / "work", tmp_path / "out" / "page.html").path
    text = page.read_text()
    assert "<script>alert" not in text and "<img src=x" not in text and "<b>probe" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a|b" in text and "&lt;b&gt;probe&lt;/b&gt;" in text
    elements = _Elements()
    elements.feed(text)
    assert elements.tags.count("script") == 1 and "b" not in elements.tags  # only the page's own sorting script


@pytest.mark.slow
def test_two_hundred_runs_render_in_under_ten_seconds(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = list(rng.choice(["pure", "broken", "discolored", "silkcut"], size=60))
    for i in range(200):
        predicted = [label if rng.random() < 0.5 + i / 500 else "pure" for label in labels]
        save_run(synthetic_run(f"head{i}", labels, predicted, classes=["broken", "discolored", "pure", "silkcut"]), tmp_path)
    started = time.perf_counter()
    page = write_report(tmp_path)
    elapsed = time.perf_counter() - started
    assert len(page.table) == 200 and page.table["val_interval"].map(lambda ci: ci[0] < ci[1]).all()
    assert elapsed < 10, f"200 Runs took {elapsed:.1f} s"


def test_cornkit_report_prints_the_page_last_and_checks_its_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_run(synthetic_run("probe", ["a", "b"] * 5, ["a"] * 10), tmp_path / "work")
    out = tmp_path / "site" / "corn.html"
    assert main(["report", "--work", str(tmp_path / "work"), "--submissions", str(tmp_path / "none"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(out)
    assert (tmp_path / "site" / "corn_files").is_dir()
    assert "No public or private LB scores known: nothing was submitted yet" in " ".join(out.read_text().split())
    assert main(["report", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "page.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--public-frac", "1.5"])

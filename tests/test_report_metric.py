"""The run table, ``cornkit runs`` and the report page lead with the competition's metric, and pair Runs by it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss

from conftest import cli
from cornkit.data.dataset import load_dataset
from cornkit.data.split import Split, make_split
from cornkit.reports.page import metric_header, write_report
from cornkit.reports.run_table import BOOTSTRAP, MCNEMAR, METRIC_COLUMNS, Versus, run_table
from cornkit.runs.intervals import metric_interval, paired_bootstrap
from cornkit.runs.run import Run, list_runs, make_run, save_run


def _probabilities(truth: np.ndarray, n_classes: int, kind: str) -> np.ndarray:
    """``sharp``: sure and right on 80 % of rows, sure and wrong on the rest (high accuracy, awful log loss);
    ``soft``: 0.4 on the truth for 60 % of rows, 0.4 on another class for the rest (lower accuracy, better log loss);
    ``uniform``: the same probability for every class (argmax: the first class)."""
    n = len(truth)
    wrong = np.arange(n) < round({"sharp": 0.2, "soft": 0.4}.get(kind, 0.0) * n)
    guess = np.where(wrong, (truth + 1) % n_classes, truth)
    if kind == "uniform":
        return np.full((n, n_classes), 1 / n_classes)
    low, high = (1e-4, 1 - 1e-4 * (n_classes - 1)) if kind == "sharp" else (0.6 / (n_classes - 1), 0.4)
    probs = np.full((n, n_classes), low)
    probs[np.arange(n), guess] = high
    return probs


def _run(split: Split, classes: list[str], probs: np.ndarray, name: str, n_test: int) -> Run:
    return make_run(
        approach=name,
        model="none",
        classes=classes,
        split=split,
        val_probs=probs,
        test_ids=np.arange(n_test),
        test_probs=np.full((n_test, len(classes)), 1 / len(classes)),
        config={},
        seed=0,
        calibrate_log_loss=False,  # the probabilities as drawn: the table must rank them, not their temperature-scaled versions
    )


def _sklearn_log_loss(labels: np.ndarray, probs: np.ndarray, classes: list[str]) -> float:
    order = np.argsort(classes)
    return float(log_loss(labels, probs[:, order], labels=sorted(classes)))


@pytest.fixture
def log_loss_work(corn_dir: Path, tmp_path: Path) -> tuple[Path, list[str], np.ndarray, dict[str, Run]]:
    """A log-loss split with three Runs saved oldest first in accuracy order: sharp (best accuracy, worst log loss), soft, uniform."""
    dataset = load_dataset(corn_dir, check_images=False)
    work = tmp_path / "work"
    split = make_split(dataset, work, metric="log_loss")
    classes = list(dataset.classes)
    labels = split.validation_rows().labels
    truth = np.array([classes.index(label) for label in labels])
    runs = {kind: _run(split, classes, _probabilities(truth, len(classes), kind), kind, len(dataset.ids("test"))) for kind in ("sharp", "soft", "uniform")}
    del runs["uniform"].metrics["val_log_loss"]  # a Run made before val_<metric> was recorded: the table recomputes it
    for run in runs.values():
        save_run(run, work)
    return work, classes, labels, runs


def test_a_log_loss_table_sorts_by_log_loss_ascending_and_pairs_by_bootstrap(log_loss_work) -> None:
    work, classes, labels, runs = log_loss_work
    losses = {kind: _sklearn_log_loss(labels, run.val_probs, classes) for kind, run in runs.items()}
    accuracies = {kind: run.metrics["val_accuracy"] for kind, run in runs.items()}
    assert losses["soft"] < losses["uniform"] < losses["sharp"] and accuracies["sharp"] > accuracies["soft"] > accuracies["uniform"]
    listed = list_runs(work)
    assert [run.approach for run in listed] == ["sharp", "soft", "uniform"]  # oldest first: accuracy order

    table = run_table(listed, None, 0.3)
    assert list(table["approach"]) == ["soft", "uniform", "sharp"]
    assert list(table.columns[1:4]) == list(METRIC_COLUMNS)
    assert set(table["metric"]) == {"log_loss"}
    for row in table.itertuples():
        assert row.val_metric == pytest.approx(losses[row.approach], abs=1e-9)
        assert row.metric_interval == pytest.approx(metric_interval("log_loss", labels, runs[row.approach].val_probs, classes), abs=1e-9)
        assert row.metric_interval[0] <= row.val_metric <= row.metric_interval[1]
    versus = dict(zip(table["approach"], table["versus"], strict=True))
    assert versus["soft"] == "best on its split"
    for kind in ("uniform", "sharp"):
        against = versus[kind]
        assert isinstance(against, Versus) and against.best == runs["soft"].run_id and against.test == BOOTSTRAP
        assert against.difference == pytest.approx(losses["soft"] - losses[kind], abs=1e-9)  # negative: worse than the best
        assert against.interval is not None and against.interval[0] <= against.difference <= against.interval[1]
        assert BOOTSTRAP in against.verdict


def test_the_paired_bootstrap_of_log_loss_is_scikit_learns_difference(log_loss_work) -> None:
    _, classes, labels, runs = log_loss_work
    soft, sharp = runs["soft"].val_probs, runs["sharp"].val_probs
    test = paired_bootstrap("log_loss", labels, soft, sharp, classes, seed=3, resamples=400)
    expected = _sklearn_log_loss(labels, sharp, classes) - _sklearn_log_loss(labels, soft, classes)  # positive: the first (soft) is better
    assert expected > 0 and test.difference == pytest.approx(expected, abs=1e-9)
    assert test.interval[0] <= test.difference <= test.interval[1] and test.resamples == 400
    assert 0 < test.p_value <= 1  # ~32 validation rows: a difference this size may well be noise
    assert paired_bootstrap("log_loss", labels, sharp, soft, classes, seed=3, resamples=400).difference == pytest.approx(-expected, abs=1e-9)
    same = paired_bootstrap("log_loss", labels, soft, soft.copy(), classes, seed=3, resamples=400)
    assert same.difference == 0 and same.p_value == 1 and same.interval == (0, 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_the_paired_bootstrap_skips_resamples_where_the_metric_is_undefined() -> None:
    labels = np.array(["no"] * 5 + ["yes"])
    rng = np.random.default_rng(0)
    first, second = rng.dirichlet([1, 1], size=6), rng.dirichlet([1, 1], size=6)
    test = paired_bootstrap("roc_auc", labels, first, second, ["no", "yes"], resamples=200)
    assert 0 < test.resamples < 200  # a resample without the one "yes" row has no AUC
    assert 0 <= test.p_value <= 1


def test_an_accuracy_table_keeps_its_order_and_mcnemar(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    split = make_split(dataset, tmp_path)
    classes = list(dataset.classes)
    truth = np.array([classes.index(label) for label in split.validation_rows().labels])
    runs = [_run(split, classes, _probabilities(truth, len(classes), kind), kind, 4) for kind in ("soft", "sharp")]
    table = run_table(runs, None, 0.3)
    assert list(table["approach"]) == ["soft", "sharp"] and list(table.columns[:3]) == ["run_id", "approach", "model"]
    assert list(table["val_metric"]) == list(table["val_accuracy"]) and list(table["metric_interval"]) == list(table["val_interval"])
    versus = table["versus"].iloc[0]
    assert isinstance(versus, Versus) and versus.test == MCNEMAR and MCNEMAR in versus.verdict and versus.best == runs[1].run_id
    assert not metric_header(table)["metric_leads"]


def test_cornkit_runs_and_the_page_lead_with_log_loss(log_loss_work, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    work, _, _, runs = log_loss_work
    code, out, _ = cli(capsys, "runs", "--work", work)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("by val_log_loss (lower is better")
    assert [line.split()[1] for line in lines[1:4]] == ["soft", "uniform", "sharp"]
    assert all(line.split()[2] == "val_log_loss" and "[" in line for line in lines[1:4])

    page = write_report(work, tmp_path / "page" / "report.html")
    assert metric_header(page.table) == {
        "metric": "log_loss",
        "metric_header": "val_log_loss",
        "metric_leads": True,
        "metric_better": "lower",
        "metric_test": BOOTSTRAP,
    }
    html = page.path.read_text()
    assert all(run.run_id in html for run in runs.values())
    assert html.index(runs["soft"].run_id) < html.index(runs["uniform"].run_id) < html.index(runs["sharp"].run_id)
    assert '<th data-column="val_metric"><button type="button">val_log_loss</button></th>' in html
    soft = page.table.set_index("run_id").loc[runs["soft"].run_id]
    assert f'data-v="{soft["val_metric"]:.6f}"' in html and "paired bootstrap's p" in html
    code, out, _ = cli(capsys, "report", "--work", work, "--out", tmp_path / "page2" / "report.html", "--submissions", tmp_path / "none")
    assert code == 0 and f"by val_log_loss (lower is better): best {runs['soft'].run_id}" in out

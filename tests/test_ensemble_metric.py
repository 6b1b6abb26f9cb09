"""Ensembles and stacks choose, and report, by the split's metric in its direction, not by accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

from conftest import cli, one_line_error
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.split import Split, make_split
from cornkit.errors import CornkitError
from cornkit.runs.competition_metric import get_metric
from cornkit.runs.crossfit import BOOTSTRAP_SAMPLES, bootstrap_metric_std, bootstrap_std, row_log_loss
from cornkit.runs.ensemble import ensemble_runs
from cornkit.runs.run import Run, make_run, save_run
from cornkit.runs.stack import meta_features, predict_classes, stack_runs

GRID = np.linspace(0, 1, 21)
"""The weights of member A the search tries for two members (steps of 1/20); B gets the rest."""


@pytest.fixture
def dataset(corn_dir: Path) -> Dataset:
    return load_dataset(corn_dir, check_images=False)


def _row(truth: int, p_truth: float, p_other: float, n_classes: int) -> np.ndarray:
    """``p_truth`` on the true class, ``p_other`` on the next one, the rest spread evenly over the others."""
    row = np.full(n_classes, (1 - p_truth - p_other) / (n_classes - 2))
    row[truth], row[(truth + 1) % n_classes] = p_truth, p_other
    return row


def calibrated_and_overconfident(dataset: Dataset, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Member A, honest but right less often, and member B, right more often but sure of its mistakes.

    Five rows B gets wrong with certainty (A right: a mix is right only for A's weight above 2/3),
    seven A gets wrong (B right: a mix is right only for B's weight above 0.57), the rest both
    get right. Accuracy wants B's weight above 0.57; log loss, which B's certain mistakes ruin
    unless A has a large share, wants A's weight near 0.6. No grid point sits on a threshold.
    """
    classes = list(dataset.classes)
    truth = [classes.index(label) for label in split.validation_rows().labels]
    n = len(classes)
    a, b = [], []
    for k, t in enumerate(truth):
        if k < 5:  # B certain and wrong
            a.append(_row(t, 0.7, 0.2, n))
            b.append(_row(t, 1e-6, 1 - 3e-6, n))
        elif k < 12:  # A wrong, B right
            a.append(_row(t, 0.25, 0.7, n))
            b.append(_row(t, 0.62, 0.28, n))
        else:
            a.append(_row(t, 0.9, 0.05, n))
            b.append(_row(t, 0.999, 0.0005, n))
    return np.array(a), np.array(b)


def member(dataset: Dataset, split: Split, val_probs: np.ndarray, name: str) -> Run:
    n_test, n_classes = len(dataset.ids("test")), len(dataset.classes)
    return make_run(
        approach=name,
        model=name,
        classes=dataset.classes,
        split=split,
        val_probs=val_probs,
        test_ids=dataset.ids("test"),
        test_probs=np.random.default_rng(len(name)).dirichlet(np.ones(n_classes), n_test),
        config={},
        seed=0,
    )


def members(dataset: Dataset, work: Path, metric: str) -> tuple[Split, Run, Run]:
    split = make_split(dataset, work, metric=metric)
    probs_a, probs_b = calibrated_and_overconfident(dataset, split)
    return split, member(dataset, split, probs_a, "calibrated"), member(dataset, split, probs_b, "overconfident")


def brute_force(a: Run, b: Run) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and log loss of every grid mix of A and B, recomputed with scikit-learn alone."""
    classes = list(a.classes)
    truth = a.val_labels.astype(str)
    order = np.argsort(classes)
    accuracy, loss = [], []
    for w in GRID:
        mixed = w * a.val_probs + (1 - w) * b.val_probs
        accuracy.append(accuracy_score(truth, np.asarray(classes)[mixed.argmax(axis=1)]))
        loss.append(log_loss(truth, mixed[:, order], labels=sorted(classes)))
    return np.array(accuracy), np.array(loss)


def test_auto_weights_follow_the_metric_accuracy_and_log_loss_disagree(dataset: Dataset, tmp_path: Path) -> None:
    chosen = {}
    for metric in ("accuracy", "log_loss"):
        _, a, b = members(dataset, tmp_path / metric, metric)
        run = ensemble_runs([a, b], "auto")
        weights = run.metrics["weights"]
        assert weights[a.run_id] + weights[b.run_id] == pytest.approx(1)
        accuracy, loss = brute_force(a, b)
        k = int(np.argmin(np.abs(GRID - weights[a.run_id])))
        assert GRID[k] == pytest.approx(weights[a.run_id])
        if metric == "accuracy":
            assert accuracy[k] == accuracy.max()
            assert loss[k] == pytest.approx(loss[accuracy == accuracy.max()].min())  # log loss breaks accuracy's ties
            assert weights[b.run_id] > weights[a.run_id]
        else:
            assert loss[k] == pytest.approx(loss.min(), abs=1e-12) and int(np.argmin(loss)) == k
            assert weights[a.run_id] > weights[b.run_id]
            assert accuracy[k] < accuracy.max()  # the metric's optimum is not accuracy's
        chosen[metric] = weights[a.run_id]
    assert chosen["accuracy"] != chosen["log_loss"]


def test_a_log_loss_ensemble_reports_in_log_loss_as_scikit_learn_computes_it(dataset: Dataset, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _, a, b = members(dataset, work, "log_loss")
    run = ensemble_runs([a, b], "auto")
    folder = save_run(run, work)
    frame = pd.read_csv(folder / "val_probs.csv", dtype={"label": str})
    order = sorted(run.classes)
    assert run.metrics["val_log_loss"] == pytest.approx(log_loss(frame["label"], frame[order].to_numpy(), labels=order), abs=1e-6)
    metrics = run.metrics
    equal = 0.5 * a.val_probs + 0.5 * b.val_probs
    columns = np.argsort(run.classes)
    assert metrics["val_log_loss_equal_weights"] == pytest.approx(log_loss(a.val_labels, equal[:, columns], labels=order))
    assert metrics["auto_gain"] == pytest.approx(metrics["val_log_loss_equal_weights"] - metrics["val_log_loss"])  # lower is better
    assert metrics["val_log_loss_in_sample"] <= metrics["val_log_loss_equal_weights"]
    assert {"val_accuracy_equal_weights", "val_accuracy_in_sample"} <= set(metrics)
    assert metrics["auto_gain_bootstrap_std"] > 0
    assert "validation log_loss" in metrics["auto_summary"] and "lower is better" in metrics["auto_summary"]
    assert metrics["member_val_log_loss"] == {a.run_id: a.metrics["val_log_loss"], b.run_id: b.metrics["val_log_loss"]}


def test_the_bootstrap_of_a_gain_resamples_rows_in_the_metric() -> None:
    """Counts as ``sample_weight`` are the resampled rows themselves; accuracy keeps its per-row bootstrap."""
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    truth = np.asarray(classes)[rng.integers(0, 3, 50)]
    probs, reference = rng.dirichlet(np.ones(3), 50), rng.dirichlet(np.ones(3), 50)
    draws = np.random.default_rng(7).integers(0, 50, size=(BOOTSTRAP_SAMPLES, 50))
    gains = [log_loss(truth[d], reference[d], labels=classes) - log_loss(truth[d], probs[d], labels=classes) for d in draws]
    assert bootstrap_metric_std("log_loss", truth, probs, reference, classes, seed=7) == pytest.approx(np.std(gains))
    names = np.asarray(classes)
    correct = (names[probs.argmax(axis=1)] == truth).astype(float)
    reference_correct = (names[reference.argmax(axis=1)] == truth).astype(float)
    assert bootstrap_metric_std("accuracy", truth, probs, reference, classes, seed=7) == bootstrap_std(correct, reference_correct, 7)


def test_members_scored_by_different_metrics_are_refused_in_one_line(dataset: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, a, _ = members(dataset, tmp_path / "accuracy", "accuracy")
    _, _, b = members(dataset, tmp_path / "log_loss", "log_loss")
    assert a.config["split_id"] == b.config["split_id"]  # the same rows: only the metric differs
    for combine in (ensemble_runs, stack_runs):
        with pytest.raises(CornkitError, match=r"scored by log_loss.*scored by accuracy") as refused:
            combine([a, b])
        assert "\n" not in str(refused.value)
    folders = [save_run(a, tmp_path / "accuracy"), save_run(b, tmp_path / "log_loss")]
    code, _, err = cli(capsys, "ensemble", *folders, "--weights", "auto", "--work", tmp_path / "accuracy")
    one_line_error(code, err, b.run_id, "log_loss", "accuracy")


def test_a_stack_on_a_log_loss_split_reports_in_log_loss(dataset: Dataset, tmp_path: Path) -> None:
    _, a, b = members(dataset, tmp_path / "work", "log_loss")
    stack = stack_runs([a, b])
    metrics = stack.run.metrics
    order, columns = sorted(a.classes), np.argsort(a.classes)
    val = np.stack([a.val_probs, b.val_probs])
    in_sample = predict_classes(stack.model, meta_features(val), len(a.classes))
    assert metrics["val_log_loss_in_sample"] == pytest.approx(log_loss(a.val_labels, in_sample[:, columns], labels=order))
    assert metrics["val_log_loss_equal_weights"] == pytest.approx(log_loss(a.val_labels, val.mean(axis=0)[:, columns], labels=order))
    assert metrics["val_log_loss"] == pytest.approx(log_loss(a.val_labels, stack.run.val_probs[:, columns], labels=order))
    assert metrics["stack_gain"] == pytest.approx(metrics["val_log_loss_equal_weights"] - metrics["val_log_loss"])
    assert metrics["stack_gain_bootstrap_std"] > 0
    assert {"val_accuracy_equal_weights", "val_accuracy_in_sample"} <= set(metrics)
    assert "validation log_loss" in metrics["stack_summary"] and "equal-weight mean" in metrics["stack_summary"]
    assert stack.report.summary() == metrics["stack_summary"]


def test_the_grids_log_loss_is_scikit_learns_even_where_it_clips() -> None:
    """The search scores a chunk of mixes at once; each must be what ``get_metric('log_loss')`` gives (a 0 clipped to eps)."""
    rng = np.random.default_rng(5)
    classes = ["b", "a", "c"]  # not sorted
    labels = rng.integers(0, 3, 40)
    mixes = rng.dirichlet(np.ones(3), size=(6, 40))
    mixes[0, :5] = np.eye(3)[(labels[:5] + 1) % 3]  # certain and wrong: probability 0 on the truth
    expected = [get_metric("log_loss").score(np.asarray(classes)[labels], mix, classes) for mix in mixes]
    np.testing.assert_allclose(row_log_loss(mixes, labels).mean(axis=1), expected, rtol=1e-12)

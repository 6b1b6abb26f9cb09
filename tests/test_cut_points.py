"""Quadratic kappa: labels cut from the expected rating, cut points cross-fitted, kept only when they beat the most probable class."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from cornkit.data.dataset import load_dataset
from cornkit.data.split import make_split
from cornkit.kaggle.submission import build_submission
from cornkit.runs.cut_points import CROSS_FITTED, CUT_POINTS, expected_rating, fit_cut_points, labels_at
from cornkit.runs.run import load_run, make_run, save_run

RATINGS = {"broken": "10", "discolored": "2", "pure": "0", "silkcut": "1"}
"""Integer labels whose text order (0, 1, 10, 2) is not their numeric order (0, 1, 2, 10)."""
MIDDLE = "1"


def _pulled_to_the_middle(truth: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities whose most probable class is always the middle rating, while the expected rating still orders the truth."""
    probs = np.zeros((len(truth), len(classes)))
    probs[:, classes.index(MIDDLE)] = 0.55
    probs[np.arange(len(truth)), [classes.index(t) for t in truth]] += 0.45
    return probs


@pytest.fixture
def rated(corn_copy: Path, tmp_path: Path):
    train = pd.read_csv(corn_copy / "train.csv")
    train["label"] = train["label"].map(RATINGS)
    train.to_csv(corn_copy / "train.csv", index=False)
    dataset = load_dataset(corn_copy, check_images=False)
    return dataset, make_split(dataset, tmp_path / "work", metric="quadratic_kappa"), tmp_path / "work"


def test_cut_points_label_a_kappa_run_when_they_beat_the_most_probable_class(rated, tmp_path: Path) -> None:
    dataset, split, work = rated
    classes = list(dataset.classes)
    rows = split.validation_rows()
    test_truth = np.asarray(classes)[np.arange(len(dataset.test)) % len(classes)]
    run = make_run(
        approach="ordinal",
        model="none",
        classes=classes,
        split=split,
        val_probs=_pulled_to_the_middle(np.asarray(rows.labels, dtype=str), classes),
        test_ids=dataset.ids("test"),
        test_probs=_pulled_to_the_middle(test_truth, classes),
        config={},
        seed=0,
    )
    folder = save_run(run, work)
    saved = load_run(folder)
    frame = pd.read_csv(folder / "val_probs.csv", dtype={"label": str})
    argmax = frame[classes].to_numpy().argmax(axis=1)
    by_sklearn = cohen_kappa_score(frame["label"].astype(int), np.asarray(classes)[argmax].astype(int), weights="quadratic")
    assert saved.metrics["val_quadratic_kappa"] == pytest.approx(by_sklearn, abs=1e-6), "the recorded metric is still val_probs.csv's"
    assert saved.metrics[CROSS_FITTED] > saved.metrics["val_quadratic_kappa"] + 0.3
    cuts = saved.metrics[CUT_POINTS]
    assert len(cuts) == 3 and cuts == sorted(cuts)
    assert list(saved.test_predictions()) == list(test_truth), "the test labels come from the cut points, not the most probable class"
    assert set(np.asarray(classes)[saved.test_probs.argmax(axis=1)]) == {MIDDLE}, "the most probable class alone would label every row the middle"
    submission = build_submission(saved, dataset).set_index(dataset.id_column)["label"].astype(str)
    assert (submission.loc[saved.test_ids] == test_truth).all()
    assert "cut points on the expected rating" in saved.validation_score()


def test_cut_points_are_left_out_when_the_most_probable_class_is_as_good(rated) -> None:
    dataset, split, _ = rated
    classes = list(dataset.classes)
    rows = split.validation_rows()
    sharp = np.eye(len(classes))[[classes.index(t) for t in np.asarray(rows.labels, dtype=str)]] * 0.96 + 0.01
    run = make_run(
        approach="sharp",
        model="none",
        classes=classes,
        split=split,
        val_probs=sharp,
        test_ids=dataset.ids("test"),
        test_probs=np.full((len(dataset.test), len(classes)), 0.25),
        config={},
        seed=0,
    )
    assert run.metrics["val_quadratic_kappa"] == pytest.approx(1.0) and CUT_POINTS not in run.metrics
    assert set(run.test_predictions()) == {classes[0]}, "without cut points the labels are the most probable class"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(12, 80), noise=st.floats(0.1, 2.0))
def test_fitted_cut_points_increase_and_never_score_below_the_midpoints(seed: int, n: int, noise: float) -> None:
    rng = np.random.default_rng(seed)
    classes = ["3", "0", "1", "2"]
    values = np.array([int(c) for c in classes])
    truth = rng.integers(0, 4, n)
    logits = -((values[None, :] - (truth[:, None] + rng.normal(0, noise, (n, 1)))) ** 2)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([str(t) for t in truth])
    cuts = fit_cut_points(labels, probs, classes)
    assert len(cuts) == 3 and all(a < b for a, b in itertools.pairwise(cuts))
    expected = expected_rating(probs, classes)

    def kappa(at: list[float]) -> float:
        return cohen_kappa_score(labels, labels_at(expected, at, classes), labels=["0", "1", "2", "3"], weights="quadratic")

    assert kappa(cuts) >= kappa([0.5, 1.5, 2.5])

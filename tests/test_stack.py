"""Stacks are cross-fitted: a level-2 model never scores the validation rows it was fitted on."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import validation_rows
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.runs.run import Run, load_run, make_run, save_run
from cornkit.runs.stack import meta_features, stack_runs

CLASSES = ("broken", "discolored", "pure", "silkcut")
N_VAL, N_TEST = 160, 25


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """Balanced labels, so chance accuracy is 0.25 for every predictor."""
    return np.random.default_rng(0).permutation(np.arange(N_VAL) % len(CLASSES))


def member(truth: np.ndarray, signal: float, seed: int, *, split_id: str = "split-a", approach: str = "probe") -> Run:
    """A Run whose validation logits carry ``signal`` times the true class plus unit noise (0: pure noise)."""
    rng = np.random.default_rng(seed)
    logits = signal * np.eye(len(CLASSES))[truth] + rng.normal(0, 1, (len(truth), len(CLASSES)))
    return make_run(
        approach=approach,
        model=f"m{seed}",
        classes=CLASSES,
        split=validation_rows(np.arange(100, 100 + len(truth)), np.asarray(CLASSES)[truth], split_id),
        val_probs=np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True),
        test_ids=np.arange(5000, 5000 + N_TEST),
        test_probs=rng.dirichlet(np.ones(len(CLASSES)), N_TEST),
        config={},
        seed=seed,
    )


def test_a_stack_of_noise_is_scored_near_chance_although_it_fits_its_rows(truth):
    """Pure-noise members: fitted and scored on the same rows the stack looks good; cross-fitted it does not."""
    noise = [member(truth, 0.0, seed) for seed in range(10)]
    stack = stack_runs(noise)
    metrics = stack.run.metrics
    assert metrics["val_accuracy_in_sample"] > 0.45  # 40 features on 160 rows: measured 0.59
    assert metrics["val_accuracy"] < 0.32  # chance is 0.25; measured 0.21
    assert "within noise" in metrics["stack_summary"]
    assert metrics["stack_gain"] == pytest.approx(metrics["val_accuracy"] - metrics["val_accuracy_equal_weights"])
    assert metrics["stack_gain_bootstrap_std"] > 0


class RecordingMetaModel:
    """A meta-model that remembers the rows it was fitted on and the rows it scored (rows are told apart by their features)."""

    fits: ClassVar[list[set[bytes]]] = []
    scored: ClassVar[list[tuple[set[bytes], list[bytes]]]] = []

    def fit(self, x: np.ndarray, y: np.ndarray) -> RecordingMetaModel:
        self.seen = {row.tobytes() for row in x}
        self.classes_ = np.unique(y)
        RecordingMetaModel.fits.append(self.seen)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        RecordingMetaModel.scored.append((self.seen, [row.tobytes() for row in x]))
        return np.full((len(x), len(self.classes_)), 1 / len(self.classes_))


def test_each_validation_row_is_scored_once_by_a_meta_model_that_never_saw_it(truth, monkeypatch):
    """Whatever the folds: a leak (a row in its own fit) or a row scored twice or never would show here."""
    import cornkit.runs.stack as stack_module

    RecordingMetaModel.fits, RecordingMetaModel.scored = [], []
    monkeypatch.setattr(stack_module, "meta_model", lambda name, seed=0: RecordingMetaModel())
    runs = [member(truth, 1.5, 1), member(truth, 0.5, 2)]
    stack_runs(runs)
    val_rows = {row.tobytes() for row in stack_module.meta_features(np.stack([r.val_probs for r in runs]))}
    assert len(val_rows) == N_VAL
    cross_fitted = [(seen, rows) for seen, rows in RecordingMetaModel.scored if seen != val_rows and set(rows) <= val_rows]
    scored = [row for _, rows in cross_fitted for row in rows]
    assert sorted(scored) == sorted(val_rows)  # every validation row exactly once
    assert all(not (seen & set(rows)) for seen, rows in cross_fitted)  # never by a model fitted on it
    assert val_rows in RecordingMetaModel.fits  # and the test rows' model saw every validation row


def _log_probs_side_by_side(runs: list[Run], part: str) -> np.ndarray:
    """The README's meta-features, written out again: each member's clipped log-probabilities, members side by side."""
    return np.hstack([np.log(np.clip(getattr(r, f"{part}_probs"), 1e-6, None)) for r in runs])


def test_test_probabilities_come_from_a_logistic_regression_on_all_validation_rows(truth):
    runs = [member(truth, 1.5, 1), member(truth, 0.5, 2, approach="convnext")]
    stack = stack_runs(runs)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(_log_probs_side_by_side(runs, "val"), truth)
    np.testing.assert_allclose(stack.run.test_probs, reference.predict_proba(_log_probs_side_by_side(runs, "test")), atol=1e-6)
    assert stack.run.config["members"] == [r.run_id for r in runs]
    assert stack.run.model == "probe+convnext"


def test_a_stack_learns_what_a_mean_cannot(truth):
    """A confident member that names the classes in a shifted order drowns the mean; a stack learns the mapping."""
    weak = member(truth, 1.0, 1)
    shifted = member((truth + 1) % len(CLASSES), 4.0, 2)
    shifted.val["label"] = weak.val["label"]
    stack = stack_runs([weak, shifted])
    metrics = stack.run.metrics
    assert metrics["val_accuracy"] > 0.9 and metrics["val_accuracy_equal_weights"] < 0.5
    assert "more than noise" in metrics["stack_summary"]


@pytest.mark.slow
def test_gradient_boosting_learns_the_mapping_too_and_is_the_model_kept(truth, tmp_path):
    weak = member(truth, 1.0, 1)
    shifted = member((truth + 1) % len(CLASSES), 4.0, 2)
    shifted.val["label"] = weak.val["label"]
    stack = stack_runs([weak, shifted], "hgb")
    assert stack.run.metrics["val_accuracy"] > 0.85  # trees learn the class permutation as well
    stack.save(tmp_path)
    assert isinstance(stack.run.saved_model().load("stack.joblib"), HistGradientBoostingClassifier)


def test_refuses_runs_from_different_splits_and_lone_runs(truth):
    a, b = member(truth, 1.0, 1), member(truth, 1.0, 2, split_id="split-b")
    with pytest.raises(CornkitError, match=r"split-b.*split-a"):
        stack_runs([a, b])
    with pytest.raises(CornkitError, match="a stack needs at least two Runs, got 1"):
        stack_runs([a])
    with pytest.raises(CornkitError, match="--meta 'forest'"):
        stack_runs([a, member(truth, 1.0, 3)], "forest")


def test_cli_stack_writes_a_run_with_its_meta_model(truth, tmp_path, capsys):
    runs = [member(truth, 1.5, 1), member(truth, 0.5, 2)]
    for run in runs:
        save_run(run, tmp_path)
    assert main(["stack", runs[0].run_id, runs[1].run_id, "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "equal-weight mean" in out[-2]
    written = load_run(out[-1], tmp_path)
    model = written.saved_model().load("stack.joblib")
    np.testing.assert_allclose(model.predict_proba(meta_features(np.stack([r.test_probs for r in runs]))), written.test_probs, atol=1e-7)
    assert main(["stack", runs[0].run_id, "--work", str(tmp_path)]) == 2
    assert "at least two Runs" in capsys.readouterr().err

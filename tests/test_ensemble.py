"""Ensembles average Runs made on the same split, refuse the rest, and say when tuned weights are noise."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import validation_rows
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.runs.ensemble import cross_fitted_probs, ensemble_runs
from cornkit.runs.run import Run, load_run, make_run, save_run

CLASSES = ("broken", "discolored", "pure", "silkcut")
N_VAL, N_TEST = 200, 30


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return np.random.default_rng(0).integers(0, len(CLASSES), N_VAL)


def fake_run(truth: np.ndarray, noise: float, seed: int, *, split_id: str = "split-a", classes=CLASSES, approach: str = "probe") -> Run:
    """A Run whose validation probabilities are right more often the smaller ``noise`` is."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * np.eye(len(classes))[truth] + rng.normal(0, noise, (len(truth), len(classes)))
    val = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    test = rng.dirichlet(np.ones(len(classes)), N_TEST)
    return make_run(
        approach=approach,
        model=f"m{seed}",
        classes=classes,
        split=validation_rows(np.arange(100, 100 + len(truth)), np.asarray(CLASSES)[truth], split_id),
        val_probs=val,
        test_ids=np.arange(5000, 5000 + N_TEST),
        test_probs=test,
        config={},
        seed=seed,
    )


def test_weighted_mean_of_two_runs(truth):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 2.0, 2, approach="convnext")
    equal = ensemble_runs([a, b])
    np.testing.assert_allclose(equal.val_probs, (a.val_probs + b.val_probs) / 2)
    np.testing.assert_allclose(equal.test_probs, (a.test_probs + b.test_probs) / 2)
    weighted = ensemble_runs([a, b], [3, 1])
    np.testing.assert_allclose(weighted.val_probs, 0.75 * a.val_probs + 0.25 * b.val_probs)
    np.testing.assert_allclose(weighted.test_probs, 0.75 * a.test_probs + 0.25 * b.test_probs)
    assert weighted.config["split_id"] == "split-a"
    assert weighted.metrics["weights"] == {a.run_id: 0.75, b.run_id: 0.25}
    assert weighted.run_id != equal.run_id


def test_rows_are_matched_by_id_not_position(truth):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 2.0, 2)
    shuffled = Run(
        run_id=b.run_id,
        classes=b.classes,
        val=b.val.iloc[::-1].reset_index(drop=True),
        test=b.test.iloc[::-1].reset_index(drop=True),
        config=b.config,
        metrics=b.metrics,
    )
    np.testing.assert_allclose(ensemble_runs([a, shuffled]).val_probs, ensemble_runs([a, b]).val_probs)


def test_refuses_runs_from_different_splits(truth):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 1.0, 2, split_id="split-b")
    with pytest.raises(CornkitError, match=r"split-b.*split-a"):
        ensemble_runs([a, b])


def test_refuses_a_different_class_order(truth):
    a = fake_run(truth, 1.0, 1)
    b = fake_run(truth, 1.0, 2, classes=tuple(reversed(CLASSES)))
    with pytest.raises(CornkitError, match="class order differs"):
        ensemble_runs([a, b])


def test_refuses_different_validation_rows(truth):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth[:-1], 1.0, 2)
    with pytest.raises(CornkitError, match="different validation ids"):
        ensemble_runs([a, b])


def test_refuses_bad_weights(truth):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 1.0, 2)
    with pytest.raises(CornkitError, match="one per Run"):
        ensemble_runs([a, b], [1, 1, 1])
    with pytest.raises(CornkitError, match="non-negative"):
        ensemble_runs([a, b], [1, -1])


def test_auto_weights_favour_the_better_run_and_report_the_noise(truth):
    good, poor = fake_run(truth, 1.0, 1), fake_run(truth, 4.0, 2)
    run = ensemble_runs([good, poor], "auto")
    weights = run.metrics["weights"]
    assert weights[good.run_id] > weights[poor.run_id]
    np.testing.assert_allclose(run.test_probs, weights[good.run_id] * good.test_probs + weights[poor.run_id] * poor.test_probs)
    assert run.metrics["val_accuracy_in_sample"] >= run.metrics["val_accuracy_equal_weights"]
    assert run.metrics["auto_gain"] == pytest.approx(run.metrics["val_accuracy"] - run.metrics["val_accuracy_equal_weights"])
    assert run.metrics["auto_gain_bootstrap_std"] > 0
    assert "noise" in run.metrics["auto_summary"]
    assert run.config["weights"] == "auto"


def test_auto_validation_rows_are_scored_with_weights_chosen_on_other_rows(truth):
    """Weights searched on the rows they are scored on flatter; cross-fitted ones must not."""
    in_sample_gain, reported_gain = [], []
    for seed in range(0, 40, 2):  # pairs of equally good Runs: any real gain is zero
        a, b = fake_run(truth, 1.5, seed), fake_run(truth, 1.5, seed + 1)
        run = ensemble_runs([a, b], "auto")
        np.testing.assert_allclose(run.val_probs, cross_fitted_probs(np.stack([a.val_probs, b.val_probs]), truth))
        in_sample_gain.append(run.metrics["val_accuracy_in_sample"] - run.metrics["val_accuracy_equal_weights"])
        reported_gain.append(run.metrics["auto_gain"])
    assert min(in_sample_gain) >= 0 and np.mean(in_sample_gain) > 0.005
    assert np.mean(reported_gain) < np.mean(in_sample_gain) / 2


def test_auto_gain_between_equal_runs_is_called_noise(truth):
    a, b = fake_run(truth, 1.5, 1), fake_run(truth, 1.5, 2)
    run = ensemble_runs([a, b], "auto")
    assert "within noise" in run.metrics["auto_summary"]


def test_cli_ensemble_writes_a_run(truth, tmp_path, capsys):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 2.0, 2, approach="convnext")
    for run in (a, b):
        save_run(run, tmp_path)
    assert main(["ensemble", a.run_id, str(b.path), "--weights", "1,3", "--work", str(tmp_path)]) == 0
    written = load_run(capsys.readouterr().out.strip().splitlines()[-1], tmp_path)
    np.testing.assert_allclose(written.val_probs, 0.25 * a.val_probs + 0.75 * b.val_probs, atol=1e-7)
    assert main(["ensemble", a.run_id, b.run_id, "--weights", "auto", "--work", str(tmp_path)]) == 0
    assert "equal weights" in capsys.readouterr().out


def test_cli_ensemble_names_the_mismatch(truth, tmp_path, capsys):
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 1.0, 2, split_id="split-b")
    for run in (a, b):
        save_run(run, tmp_path)
    assert main(["ensemble", a.run_id, b.run_id, "--work", str(tmp_path)]) == 2
    assert "split-b" in capsys.readouterr().err


def test_the_same_run_twice_is_refused(truth):
    a = fake_run(truth, 1.0, 1)
    with pytest.raises(CornkitError, match=f"Run {a.run_id} is listed more than once.*--weights"):
        ensemble_runs([a, a])


def test_cli_ensemble_with_data_refuses_runs_of_an_older_split(truth, corn_dir, tmp_path, capsys):
    """``--data`` ties the members to the split --work holds now, not only to each other."""
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import make_split

    current = make_split(load_dataset(corn_dir, check_images=False), tmp_path)
    a, b = fake_run(truth, 1.0, 1), fake_run(truth, 1.0, 2)
    for run in (a, b):
        save_run(run, tmp_path)
    assert main(["ensemble", a.run_id, b.run_id, "--data", str(corn_dir), "--work", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "split-a" in err and current.split_id in err

"""GDA: the paper's closed form with OAS shrinkage, alpha 0 is zero-shot, alpha auto never sees validation rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from blend_checks import CLIP, assert_same_predictions, eval_probs, few_shot_task, head_params, run_on_relabelled_split, zeroshot_run
from cornkit.data.dataset import load_dataset
from cornkit.data.roboflow import import_roboflow
from cornkit.data.split import make_split
from cornkit.errors import CornkitError
from cornkit.heads.gda import fit_gda, fit_gda_task
from cornkit.heads.on_features import FeatureTask
from cornkit.heads.registry import run_head
from cornkit.runs.run import load_run
from test_roboflow import _export


def _oas_by_hand(centred: np.ndarray) -> np.ndarray:
    """Chen et al.'s oracle approximating shrinkage of the (assumed centred) rows, written out."""
    n, d = centred.shape
    sample = centred.T @ centred / n
    mu = np.trace(sample) / d
    alpha = np.mean(sample**2)
    shrinkage = min(1.0, (alpha + mu**2) / ((n + 1) * (alpha - mu**2 / d)))
    return (1 - shrinkage) * sample + shrinkage * mu * np.eye(d)


def _gda_by_hand(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    means = np.stack([x[y == k].mean(axis=0) for k in range(n_classes)])
    precision = np.linalg.inv(_oas_by_hand(x - means[y]))
    weights = precision @ means.T
    priors = np.bincount(y) / len(y)
    bias = np.log(priors) - 0.5 * np.array([means[k] @ precision @ means[k] for k in range(n_classes)])
    return weights, bias


def test_gda_equals_the_closed_form_with_oas_shrinkage() -> None:
    rng = np.random.default_rng(3)
    y = np.array([0] * 5 + [1] * 8 + [2] * 6)
    x = rng.normal(size=(len(y), 12)) + 2.0 * np.eye(3, 12)[y]
    weights, bias = _gda_by_hand(x, y, 3)
    model = fit_gda(x, y, 3)
    np.testing.assert_allclose(model.weights, weights, rtol=1e-8)
    np.testing.assert_allclose(model.bias, bias, rtol=1e-8)
    assert 0 < model.shrinkage < 1


def test_run_adds_gda_logits_to_zeroshot_with_the_given_alpha(clip_work) -> None:
    dataset, split, work, features = clip_work
    zeroshot = zeroshot_run(clip_work)
    run = run_head("gda", dataset, split, work, **CLIP, alpha="0.5")
    labels = np.array([dataset.classes.index(c) for c in split.labels_of(split.train_ids())])
    weights, bias = _gda_by_hand(features.rows("train", split.train_ids()).astype(np.float64), labels, len(dataset.classes))
    valid = features.rows("train", split.valid_ids()).astype(np.float64)
    expected = softmax(np.log(zeroshot.val_probs) + 0.5 * (valid @ weights + bias), axis=1)
    np.testing.assert_allclose(run.val_probs, expected, atol=1e-6)
    assert run.metrics["alpha"] == [0.5] and run.metrics["alpha_chosen_by"] == ["fixed by --alpha"]


def test_alpha_zero_is_the_zeroshot_run(clip_work) -> None:
    dataset, split, work, _ = clip_work
    assert_same_predictions(run_head("gda", dataset, split, work, **CLIP, alpha="0"), zeroshot_run(clip_work))


def test_auto_alpha_is_searched_on_training_rows_only(clip_work, tmp_path: Path) -> None:
    original, relabelled = run_on_relabelled_split(clip_work, tmp_path, "gda")
    assert original.metrics["alpha_search"] == relabelled.metrics["alpha_search"]
    assert original.metrics["alpha"] == relabelled.metrics["alpha"]
    assert original.metrics["val_accuracy"] != relabelled.metrics["val_accuracy"]  # the validation labels did change
    search = original.metrics["alpha_search"][0]
    assert [row["alpha"] for row in search] == [0.0, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]
    best = max(row["cv_accuracy"] for row in search)
    assert original.metrics["alpha_cv_accuracy"] == [best]
    assert original.metrics["alpha"][0] == next(row["alpha"] for row in search if row["cv_accuracy"] == best)
    assert original.metrics["alpha_chosen_by"][0].startswith("cross-validation on the training rows")


def test_kfold_gda_scores_every_row_out_of_fold(kfold_work) -> None:
    dataset, split, work = kfold_work
    run = run_head("gda", dataset, split, work, **CLIP)
    assert sorted(run.val["seed_id"]) == sorted(dataset.ids("train"))
    assert len(run.metrics["alpha"]) == 3
    assert np.allclose(run.test_probs.sum(axis=1), 1)


def test_defaults_work_on_one_row_per_class_and_say_alpha_fell_back() -> None:
    task = few_shot_task(1)
    fitted = fit_gda_task(task, head_params("gda"))
    probs = eval_probs(fitted, task)
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1)
    assert fitted.info["alpha_chosen_by"].startswith("fallback") and fitted.info["covariance"].startswith("isotropic")
    two_shots = fit_gda_task(few_shot_task(2), head_params("gda"))
    assert two_shots.info["alpha_chosen_by"] == "cross-validation on the training rows (2 folds)"


def test_a_class_without_training_rows_is_refused() -> None:
    task = few_shot_task(3)
    keep = task.train_labels != 2
    missing = FeatureTask(task.train_features[keep], task.train_labels[keep], task.classes, 0, lambda: task.zeroshot)
    with pytest.raises(CornkitError, match="class2"):
        fit_gda_task(missing, head_params("gda"))


def test_gda_and_tip_make_valid_runs_on_a_roboflow_export(corn_dir: Path, tmp_path: Path) -> None:
    root = _export(corn_dir, tmp_path / "roboflow")
    import_roboflow(root, test_frac=0.25)
    dataset = load_dataset(root)
    split = make_split(dataset, tmp_path / "work")
    for head in ("gda", "tip"):
        run = load_run(run_head(head, dataset, split, tmp_path / "work", **CLIP).run_id, tmp_path / "work")
        assert list(run.test[dataset.id_column]) == dataset.ids("test")
        assert np.allclose(run.val_probs.sum(axis=1), 1) and np.isfinite(run.test_probs).all()

"""Tip-Adapter: the cache logits by hand, alpha 0 is zero-shot, Tip-F moves the keys, augmented views are cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

import cornkit.clip.augmented as augmented
from blend_checks import CLIP, assert_same_predictions, eval_probs, few_shot_task, head_params, run_on_relabelled_split, zeroshot_run
from cornkit.errors import CornkitError
from cornkit.heads.on_features import FeatureTask
from cornkit.heads.registry import run_head
from cornkit.heads.tip import fit_tip_task


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cache_logits_equal_the_papers_formula_scaled_to_the_models_logit_scale(clip_work) -> None:
    dataset, split, work, features = clip_work
    zeroshot = zeroshot_run(clip_work)
    run = run_head("tip", dataset, split, work, **CLIP, alpha="0.7", beta="3")
    keys = _unit(features.rows("train", split.train_ids()))
    values = np.eye(len(dataset.classes))[[dataset.classes.index(c) for c in split.labels_of(split.train_ids())]]
    scale = features.meta["logit_scale"] / 100.0
    for probs, rows, reference in (
        (run.val_probs, features.rows("train", split.valid_ids()), zeroshot.val_probs),
        (run.test_probs, features.test, zeroshot.test_probs),
    ):
        cache = np.exp(-3.0 * (1.0 - rows.astype(np.float64) @ keys.T)) @ values
        np.testing.assert_allclose(probs, softmax(np.log(reference) + 0.7 * scale * cache, axis=1), atol=1e-6)
    assert run.metrics["beta"] == [3.0] and run.metrics["epochs"] == [0]


def test_alpha_zero_is_the_zeroshot_run(clip_work) -> None:
    dataset, split, work, _ = clip_work
    zeroshot = zeroshot_run(clip_work)
    assert_same_predictions(run_head("tip", dataset, split, work, **CLIP, alpha="0"), zeroshot)
    assert_same_predictions(run_head("tip", dataset, split, work, **CLIP, alpha="0", beta="2", epochs=2), zeroshot)


def test_tip_f_fine_tunes_the_keys(clip_work) -> None:
    dataset, split, work, features = clip_work
    run = run_head("tip", dataset, split, work, **CLIP, alpha="1", beta="1", epochs=3, lr="0.01")
    (saved,) = run.saved_model().load("model.joblib")
    initial = _unit(features.rows("train", split.train_ids()))
    assert saved.keys.shape == initial.shape
    assert np.abs(saved.keys - initial).max() > 1e-3
    assert run.metrics["epochs"] == [3]


def test_auto_searches_alpha_beta_and_epochs_on_training_rows_only(clip_work, tmp_path: Path) -> None:
    original, relabelled = run_on_relabelled_split(clip_work, tmp_path, "tip", epochs=1)
    assert original.metrics["alpha_search"] == relabelled.metrics["alpha_search"]
    assert (original.metrics["alpha"], original.metrics["beta"]) == (relabelled.metrics["alpha"], relabelled.metrics["beta"])
    assert original.metrics["val_accuracy"] != relabelled.metrics["val_accuracy"]
    search = original.metrics["alpha_search"][0]
    assert {row["epochs"] for row in search} == {0, 1} and {row["beta"] for row in search} == {0.5, 1.0, 2.0, 3.0, 5.0, 7.0}
    best = max(search, key=lambda row: row["cv_accuracy"])
    assert (original.metrics["alpha"][0], original.metrics["beta"][0], original.metrics["epochs"][0]) == (best["alpha"], best["beta"], best["epochs"])


def test_augmented_views_are_cached_and_the_second_run_loads_no_model(clip_work, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, split, work, _ = clip_work
    first = run_head("tip", dataset, split, work, **CLIP, alpha="1", beta="2", augment_views=2)
    cached = list((work / "features" / augmented.AUGMENTED_DIR).glob("*/train.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape[:2] == (2, len(dataset.train))

    def refuse(*args, **kwargs):
        raise AssertionError("the augmented views should have come from the cache")

    monkeypatch.setattr(augmented, "encode_images", refuse)
    monkeypatch.setattr(augmented, "load_clip", refuse)
    again = run_head("tip", dataset, split, work, **CLIP, alpha="1", beta="2", augment_views=2)
    np.testing.assert_array_equal(again.val_probs, first.val_probs)
    plain = run_head("tip", dataset, split, work, **CLIP, alpha="1", beta="2")
    assert not np.allclose(plain.val_probs, first.val_probs)  # the views changed the keys


def test_kfold_tip_scores_every_row_out_of_fold(kfold_work) -> None:
    dataset, split, work = kfold_work
    run = run_head("tip", dataset, split, work, **CLIP)
    assert sorted(run.val["seed_id"]) == sorted(dataset.ids("train"))
    assert len(run.metrics["beta"]) == 3


def test_defaults_work_on_one_row_per_class_and_say_alpha_fell_back() -> None:
    task = few_shot_task(1)
    fitted = fit_tip_task(task, head_params("tip"))
    probs = eval_probs(fitted, task)
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1)
    assert fitted.info["alpha_chosen_by"].startswith("fallback") and (fitted.info["alpha"], fitted.info["beta"]) == (1.0, 1.0)
    tuned = fit_tip_task(few_shot_task(2), head_params("tip", epochs=2))
    assert tuned.info["alpha_chosen_by"] == "cross-validation on the training rows (2 folds)" and tuned.info["epochs"] in (0, 1, 2)


def test_a_class_without_training_rows_is_refused() -> None:
    task = few_shot_task(3)
    keep = task.train_labels != 1
    missing = FeatureTask(task.train_features[keep], task.train_labels[keep], task.classes, 0, lambda: task.zeroshot)
    with pytest.raises(CornkitError, match="class1"):
        fit_tip_task(missing, head_params("tip"))


def test_augmented_views_need_a_task_with_images(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match="--augment-views"):
        fit_tip_task(few_shot_task(2), head_params("tip", augment_views=2))

"""Linear probe: scikit-learn's numbers, C chosen on training rows only, saved and reloadable."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

from cornkit.clip.model import ClipSpec
from cornkit.data.dataset import load_dataset
from cornkit.data.split import make_split
from cornkit.heads.registry import run_head

CS = (0.1, 10.0, 1000.0)


def test_probe_equals_scikit_learn_on_the_same_features(clip_work, tiny_clip: ClipSpec) -> None:
    dataset, split, work, features = clip_work
    run = run_head("probe", dataset, split, work, model="cornkit-tiny-clip", pretrained="none", workers=0, cs="0.1,10,1000", cv_folds=3)
    chosen = run.metrics["chosen_C"][0]
    assert chosen in CS

    label_of = dataset.train.set_index("seed_id")["label"]
    train_ids, valid_ids = split.train_ids(), split.valid_ids()
    reference = LogisticRegression(C=chosen, max_iter=5000).fit(features.rows("train", train_ids), label_of.loc[train_ids])
    order = [list(reference.classes_).index(c) for c in dataset.classes]
    assert np.allclose(run.val_probs, reference.predict_proba(features.rows("train", valid_ids))[:, order], atol=1e-6)
    assert np.allclose(run.test_probs, reference.predict_proba(features.test)[:, order], atol=1e-6)

    saved = joblib.load(run.path / "probe.joblib")
    assert np.allclose(saved[0].predict_proba(features.test)[:, order], run.test_probs)


def test_probe_learns_the_synthetic_set_above_the_majority_rate(clip_work, tiny_clip: ClipSpec) -> None:
    dataset, split, work, _ = clip_work
    run = run_head("probe", dataset, split, work, model="cornkit-tiny-clip", pretrained="none", workers=0, cv_folds=3)
    majority = split.frame[split.frame.fold == 0]["label"].value_counts(normalize=True).iloc[0]
    assert run.metrics["val_accuracy"] > majority + 0.15  # random-weight features, 128 training rows: measured 0.78 vs 0.47


def test_kfold_probe_gives_out_of_fold_probabilities_for_every_row(corn_dir: Path, tmp_path: Path, tiny_clip: ClipSpec, clip_work) -> None:
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path, folds=3)
    (tmp_path / "features").symlink_to(clip_work[3].path.parent)
    run = run_head("probe", dataset, split, tmp_path, model="cornkit-tiny-clip", pretrained="none", workers=0, cs="0.1,10,1000", cv_folds=3, class_weight="balanced")
    assert sorted(run.val["seed_id"]) == sorted(dataset.ids("train"))
    assert len(run.metrics["chosen_C"]) == 3
    assert run.config["class_weight"] == "balanced"

    features = clip_work[3]
    label_of = dataset.train.set_index("seed_id")["label"]
    by_id = run.val.set_index("seed_id")[list(dataset.classes)]
    test_probs = []
    for fold, chosen in enumerate(run.metrics["chosen_C"]):
        train_ids, valid_ids = split.train_ids(fold), split.valid_ids(fold)
        model = LogisticRegression(C=chosen, class_weight="balanced", max_iter=5000)
        model.fit(features.rows("train", train_ids), label_of.loc[train_ids])
        order = [list(model.classes_).index(c) for c in dataset.classes]
        expected = model.predict_proba(features.rows("train", valid_ids))[:, order]
        np.testing.assert_allclose(by_id.loc[valid_ids].to_numpy(), expected, atol=1e-6)
        test_probs.append(model.predict_proba(features.test)[:, order])
    np.testing.assert_allclose(run.test_probs, np.mean(test_probs, axis=0), atol=1e-6)

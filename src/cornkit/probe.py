"""The linear probe: scikit-learn logistic regression on cached CLIP features.

As in the CLIP paper's linear-probe evaluation, the regularisation strength is chosen by
cross-validation on the training part only, over a log-spaced sweep; the validation rows
are never seen before they are scored. With a k-fold split there is one probe per fold:
out-of-fold validation probabilities and test probabilities averaged over the folds. The
fitted estimators are saved with the Run (``probe.joblib``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from .clip_model import ClipSpec
from .dataset import Dataset
from .errors import CornkitError
from .features import FeatureSet, extract_features
from .runs import Run, make_run, save_run
from .split import Split

DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 4, 15))
CLASS_WEIGHTS = (None, "balanced")


def fit_probe(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    cs: Sequence[float] = DEFAULT_CS,
    class_weight: str | None = None,
    cv_folds: int = 5,
    seed: int = 0,
) -> GridSearchCV:
    """Logistic regression with C chosen by stratified ``cv_folds``-fold CV on these rows only."""
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    if smallest < cv_folds:
        raise CornkitError(f"a class has only {smallest} training rows, fewer than --cv-folds {cv_folds}; lower --cv-folds.")
    search = GridSearchCV(
        LogisticRegression(max_iter=5000, class_weight=class_weight),
        {"C": list(cs)},
        cv=StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed),
        scoring="accuracy",
        n_jobs=-1,
    )
    return search.fit(features, np.asarray(labels))


def _ordered_proba(search: GridSearchCV, features: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """``predict_proba`` with columns in the dataset's class order (sklearn sorts its own)."""
    position = {c: k for k, c in enumerate(search.classes_)}
    missing = [c for c in classes if c not in position]
    if missing:
        raise CornkitError(f"the probe's training rows have no example of {missing}; use a split with every class in training.")
    return search.predict_proba(features)[:, [position[c] for c in classes]]


def probe_from_features(
    features: FeatureSet,
    dataset: Dataset,
    split: Split,
    spec: ClipSpec,
    *,
    cs: Sequence[float] = DEFAULT_CS,
    class_weight: str | None = None,
    cv_folds: int = 5,
    seed: int = 0,
) -> tuple[Run, list[GridSearchCV]]:
    """Fit one probe per fold of ``split`` and assemble the Run (and the fitted searches)."""
    if class_weight not in CLASS_WEIGHTS:
        raise CornkitError(f"--class-weight {class_weight!r}: use 'balanced' or leave it out.")
    label_of = split.frame.set_index("seed_id")["label"].astype(str)
    val_probs: dict[int, np.ndarray] = {}
    test_probs = np.zeros((len(features.test_ids), len(dataset.classes)))
    searches = []
    for fold in range(split.n_folds):
        train_ids, valid_ids = split.train_ids(fold), split.valid_ids(fold)
        search = fit_probe(
            features.rows("train", train_ids), label_of.loc[train_ids].to_numpy(), cs=cs, class_weight=class_weight, cv_folds=cv_folds, seed=seed
        )
        val_probs.update(zip(valid_ids.tolist(), _ordered_proba(search, features.rows("train", valid_ids), dataset.classes)))
        test_probs += _ordered_proba(search, features.test, dataset.classes) / split.n_folds
        searches.append(search)
    val_ids = split.evaluation_ids()
    run = make_run(
        approach="probe",
        model=spec.label,
        classes=dataset.classes,
        val_ids=val_ids,
        val_labels=label_of.loc[val_ids].to_numpy(),
        val_probs=np.stack([val_probs[int(i)] for i in val_ids]),
        test_ids=features.test_ids,
        test_probs=test_probs,
        config={
            "clip": spec.identity(),
            "random_weights": spec.is_random,
            "features": features.key,
            "split_id": split.split_id,
            "estimator": "LogisticRegression(lbfgs, max_iter=5000)",
            "cs": list(cs),
            "class_weight": class_weight,
            "cv_folds": cv_folds,
            "seed": seed,
        },
    )
    run.metrics["chosen_C"] = [float(s.best_params_["C"]) for s in searches]
    run.metrics["cv_accuracy"] = [float(s.best_score_) for s in searches]
    return run, searches


def run_probe(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    spec: ClipSpec,
    *,
    cs: Sequence[float] = DEFAULT_CS,
    class_weight: str | None = None,
    cv_folds: int = 5,
    seed: int = 0,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
) -> Run:
    """Extract (or load) features, fit the probe(s), save the Run with ``probe.joblib``."""
    features = extract_features(dataset, work, spec, device=device, batch_size=batch_size, num_workers=num_workers)
    run, searches = probe_from_features(features, dataset, split, spec, cs=cs, class_weight=class_weight, cv_folds=cv_folds, seed=seed)
    estimators = [s.best_estimator_ for s in searches]
    save_run(run, work, write_artifacts=lambda folder: joblib.dump(estimators, folder / "probe.joblib"))
    return run

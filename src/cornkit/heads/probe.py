"""The linear probe: scikit-learn logistic regression on cached CLIP features.

As in the CLIP paper's linear-probe evaluation, the regularisation strength is chosen by
cross-validation on the training part only, over a log-spaced sweep; the validation rows
are never seen before they are scored. With a k-fold split there is one probe per fold:
out-of-fold validation probabilities and test probabilities averaged over the folds. The
fitted estimators are saved with the Run (``probe.joblib``).

scikit-learn and torch are imported where they are used, so that the CLI, which imports every
head to build its parser, stays quick.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from .registry import Head, HeadContext, KernelRecipe

if TYPE_CHECKING:
    import torch
    from sklearn.model_selection import GridSearchCV

    from ..clip.features import FeatureSet
    from ..clip.model import ClipSpec
    from ..data.dataset import Dataset
    from ..data.split import Split
    from ..runs.run import Run

APPROACH = "probe"
DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 4, 15))
CLASS_WEIGHTS = (None, "balanced")


def fit_probe(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    cs: Sequence[float] = DEFAULT_CS,
    class_weight: str | None = None,
    cv_folds: int = 5,
    seed: int = DEFAULT_SEED,
) -> GridSearchCV:
    """Logistic regression with C chosen by stratified ``cv_folds``-fold CV on these rows only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

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
    seed: int = DEFAULT_SEED,
) -> tuple[Run, list[GridSearchCV]]:
    """Fit one probe per fold of ``split`` and assemble the Run (and the fitted searches)."""
    from ..runs.run import make_run

    if class_weight not in CLASS_WEIGHTS:
        raise CornkitError(f"--class-weight {class_weight!r}: use 'balanced' or leave it out.")
    val_probs: dict[int, np.ndarray] = {}
    test_probs = np.zeros((len(features.test_ids), len(dataset.classes)))
    searches = []
    for fold in range(split.n_folds):
        train_ids, valid_ids = split.train_ids(fold), split.valid_ids(fold)
        search = fit_probe(
            features.rows("train", train_ids), split.labels_of(train_ids), cs=cs, class_weight=class_weight, cv_folds=cv_folds, seed=seed
        )
        val_probs.update(zip(valid_ids.tolist(), _ordered_proba(search, features.rows("train", valid_ids), dataset.classes)))
        test_probs += _ordered_proba(search, features.test, dataset.classes) / split.n_folds
        searches.append(search)
    run = make_run(
        approach=APPROACH,
        model=spec.label,
        classes=dataset.classes,
        split=split,
        val_probs=np.stack([val_probs[int(i)] for i in split.evaluation_ids()]),
        test_ids=features.test_ids,
        test_probs=test_probs,
        config={
            "clip": spec.identity(),
            "random_weights": spec.is_random,
            "features": features.key,
            "estimator": "LogisticRegression(lbfgs, max_iter=5000)",
            "cs": list(cs),
            "class_weight": class_weight,
            "cv_folds": cv_folds,
        },
        seed=seed,
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
    seed: int = DEFAULT_SEED,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
) -> Run:
    """Extract (or load) features, fit the probe(s), save the Run with ``probe.joblib``."""
    import joblib

    from ..clip.features import extract_features
    from ..runs.run import save_run

    features = extract_features(dataset, work, spec, device=device, batch_size=batch_size, num_workers=num_workers)
    run, searches = probe_from_features(features, dataset, split, spec, cs=cs, class_weight=class_weight, cv_folds=cv_folds, seed=seed)
    estimators = [s.best_estimator_ for s in searches]
    save_run(run, work, write_artifacts=lambda folder: joblib.dump(estimators, folder / "probe.joblib"))
    return run


def parse_cs(text: str) -> tuple[float, ...]:
    """``--cs``: comma-separated positive C values."""
    try:
        values = tuple(float(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated positive numbers, e.g. 0.1,1,10") from None
    if not all(np.isfinite(c) and c > 0 for c in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every C must be a positive number, e.g. 0.1,1,10")
    return values


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cs", type=parse_cs, default=DEFAULT_CS, help="comma-separated C values to search (default: 15 values from 1e-3 to 1e4)")
    parser.add_argument("--class-weight", choices=["balanced"], help="weight classes inversely to their frequency")
    parser.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds on the training rows that choose C (default 5)")


def _make_run(ctx: HeadContext) -> Run:
    args = ctx.args
    return run_probe(
        ctx.dataset, ctx.split, ctx.work, ctx.clip_spec, cs=args.cs, class_weight=args.class_weight, cv_folds=args.cv_folds, seed=ctx.seed,
        **ctx.clip_options,
    )


def _describe(run: Run) -> str:
    return f"chosen C per fold: {run.metrics['chosen_C']} (cross-validated accuracy {run.metrics['cv_accuracy']})"


HEAD = Head(
    name=APPROACH,
    help="linear-probe Run: logistic regression on CLIP features, C by cross-validation",
    make_run=_make_run,
    add_arguments=_add_arguments,
    kernel=KernelRecipe(
        title="cornkit CLIP linear probe",
        explanation=(
            "CLIP image features for every photo, cached, then a logistic regression fitted on the "
            "training rows, its regularisation chosen by cross-validation: the strongest CLIP "
            "approach on this competition for the cost of one feature pass."
        ),
        model="ViT-H-14",
        pretrained="laion2b_s32b_b79k",
    ),
    rank=20,
    describe=_describe,
)

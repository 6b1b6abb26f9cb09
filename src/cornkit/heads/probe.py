"""The linear probe: scikit-learn logistic regression on cached CLIP features.

As in the CLIP paper's linear-probe evaluation, the regularisation strength C is chosen by
cross-validation on the training rows only, over a log-spaced sweep; the validation rows are
never seen before they are scored. With a k-fold split there is one probe per fold (see
:func:`~cornkit.heads.on_features.features_run`). The fitted estimators are saved with the
Run (``probe.joblib``).

scikit-learn is imported where it is used, so that the CLI, which imports every head to
build its parser, stays quick.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..cli.argtypes import int_at_least, positive_floats
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from .on_features import FeatureTask, Fitted
from .registry import Head, KernelRecipe

if TYPE_CHECKING:
    from sklearn.model_selection import GridSearchCV

    from ..runs.run import Run

DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 4, 15))


def fit_probe(
    features: np.ndarray,
    labels: Sequence[int] | np.ndarray,
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


def fit_probe_task(task: FeatureTask, args: argparse.Namespace) -> Fitted:
    """The probe of one fold: C chosen on its training rows, probabilities of its eval rows in class order."""
    search = fit_probe(task.train_features, task.train_labels, cs=args.cs, class_weight=args.class_weight, cv_folds=args.cv_folds, seed=task.seed)
    probs = np.zeros((len(task.eval_features), task.n_classes))
    probs[:, search.classes_] = search.predict_proba(task.eval_features)
    return Fitted(probs, {"chosen_C": float(search.best_params_["C"]), "cv_accuracy": float(search.best_score_)}, search.best_estimator_)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cs", type=positive_floats, default=DEFAULT_CS, help="comma-separated C values to search (default: 15 values from 1e-3 to 1e4)")
    parser.add_argument("--class-weight", choices=["balanced"], help="weight classes inversely to their frequency")
    parser.add_argument("--cv-folds", type=int_at_least(2), default=5, help="cross-validation folds on the training rows that choose C (default 5)")


def _describe(run: Run) -> str:
    return f"chosen C per fold: {run.metrics['chosen_C']} (cross-validated accuracy {run.metrics['cv_accuracy']})"


HEAD = Head(
    name="probe",
    help="linear-probe Run: logistic regression on CLIP features, C by cross-validation",
    fit_features=fit_probe_task,
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

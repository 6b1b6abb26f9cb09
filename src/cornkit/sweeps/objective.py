"""What a trial is scored by: rows that the validation split never sees, so that the best trial's validation score stays honest.

A sweep picks the best of many trials. Picked by their validation score, the winner's
validation score would flatter it (the maximum of N noisy estimates). So the objective comes
from the training rows alone:

- a head on features is cross-validated on each fold's training rows (stratified inner folds,
  seeded), its out-of-fold probabilities scored by the split's metric, and the folds' scores
  averaged; the validation rows are neither fitted nor predicted;
- a head on images (a fine-tune) is scored on its monitor rows, the part of the training rows
  held out to choose the epoch (``monitor_<metric>`` in its Run's metrics, averaged over folds).

Each trial then makes its ordinary Run on the split; only the chosen trial's validation score
is reported, beside the objective, as the estimate of how good it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.folds import capped_folds
from ..errors import CornkitError
from ..runs.competition_metric import get_metric

if TYPE_CHECKING:
    from ..heads.registry import Head, HeadContext
    from ..runs.run import Run

log = logging.getLogger(__name__)

INNER_FOLDS = 5
"""Inner folds of the objective's cross-validation (fewer when the rarest class has fewer training rows)."""

RowsWatcher = Callable[[int, str, np.ndarray], None]
"""Told ``(fold, "fit", ids)`` and ``(fold, "predict", ids)`` for every set of rows the objective touches (the tests check them)."""


def monitor_key(metric: str) -> str:
    return f"monitor_{metric}"


def check_objective_possible(head: Head, params: Any) -> None:
    """Refuse, before any trial, a sweep whose objective would need the validation rows: a fine-tune without monitor rows."""
    if head.inputs == "images" and getattr(params, "monitor_frac", None) == 0:
        raise CornkitError(
            f"--monitor-frac 0: a {head.name} sweep scores each trial on its monitor rows (held out of the training rows), "
            "and there would be none; give --monitor-frac above 0 (the default 0.1)."
        )


def features_objective(ctx: HeadContext, head: Head, watch: RowsWatcher | None = None) -> float:
    """The head's cross-validated metric on the training rows of each fold of the split, averaged over folds."""
    assert head.fit is not None
    split, classes = ctx.split, ctx.dataset.classes
    metric = get_metric(split.metric)
    fitter = ctx.feature_fitter(head.fit)
    scores = []
    for fold in range(split.n_folds):
        train_ids = split.train_ids(fold)
        labels = split.labels_of(train_ids)
        inner = capped_folds(np.asarray(labels), INNER_FOLDS, ctx.seed)
        if inner is None:
            raise CornkitError(f"the training rows of fold {fold} hold a class with one row: a sweep's objective cross-validates on them; give more rows.")
        held_out = np.zeros((len(train_ids), len(classes)))
        for k, (fit_rows, predict_rows) in enumerate(inner):
            if watch is not None:
                watch(fold, "fit", train_ids[fit_rows])
                watch(fold, "predict", train_ids[predict_rows])
            fitted = fitter.fit_rows(train_ids[fit_rows], f"inner fold {k} of the training rows of fold {fold}")
            held_out[predict_rows] = fitted.model.predict_proba(fitter.features.rows("train", train_ids[predict_rows]))
        scores.append(metric.score(labels, held_out, classes))
    return float(np.mean(scores))


def images_objective(run: Run) -> float:
    """The Run's metric on its monitor rows at the kept epoch, averaged over folds."""
    values = run.metrics.get(monitor_key(run.metric))
    if not values or any(v is None for v in values):
        raise CornkitError(
            f"Run {run.run_id} records no {monitor_key(run.metric)}: a sweep of a head on images scores trials on monitor rows (--monitor-frac above 0)."
        )
    return float(np.mean(values))

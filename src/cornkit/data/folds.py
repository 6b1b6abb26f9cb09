"""The one fold splitter: seeded, shuffled, stratified folds of labelled rows, for every place that holds rows out.

The saved split's ``--folds K``, the cross-validation inside a head (the probe's C, every α
search), cross-fitting ensembles and stacks, all draw their folds here, so the same labels and
seed give the same folds everywhere. Folds are returned as ``(fit_rows, held_rows)`` index pairs.
"""

from __future__ import annotations

import numpy as np

Folds = list[tuple[np.ndarray, np.ndarray]]


def smallest_class(labels: np.ndarray) -> int:
    """The row count of the rarest class present (0 for no rows)."""
    return int(np.unique(labels, return_counts=True)[1].min()) if len(labels) else 0


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> Folds:
    """``n_folds`` stratified folds; the caller has checked that every class has at least ``n_folds`` rows."""
    from sklearn.model_selection import StratifiedKFold  # imported here: the command line loads this module to build its parser

    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def capped_folds(labels: np.ndarray, max_folds: int, seed: int) -> Folds | None:
    """Stratified folds, at most ``max_folds`` and at most the rarest class's count; None when a class has a single row."""
    n_folds = min(max_folds, smallest_class(labels))
    return None if n_folds < 2 else stratified_folds(labels, n_folds, seed)


def crossfit_folds(labels: np.ndarray, max_folds: int, seed: int) -> Folds:
    """Stratified folds where every class has two rows, else plain shuffled folds (never more folds than rows)."""
    folds = capped_folds(labels, max_folds, seed)
    if folds is not None:
        return folds
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=min(max_folds, len(labels)), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels))))

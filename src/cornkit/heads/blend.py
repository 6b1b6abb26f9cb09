"""Mixing a head with zero-shot CLIP, and choosing the mixing weight α on the training rows only.

Every head that mixes with zero-shot (``gda``, ``tip``, ``probe --alpha``) follows one
convention: ``--alpha 0`` is the zero-shot Run exactly (the head's term is multiplied by 0),
``--alpha auto`` chooses α by cross-validation on the task's training rows. The validation
and test rows of a task never enter the search: :func:`choose_alpha` is given out-of-fold
head terms of the *training* rows (each row scored by a head fitted on other training rows)
and their labels, nothing else.

Two ways of mixing, as in the papers:

- ``add``: ``zero-shot logits + α · head logits`` (Tip-Adapter, GDA), the head's term a correction
  on top of CLIP's prediction;
- ``interpolate``: ``(1 - α) · log_softmax(zero-shot) + α · log_softmax(head)`` (the probe), a
  WiSE-style interpolation of two linear heads in log-probability space; ``α = 1`` is the head alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..data.folds import Folds, capped_folds
from ..metric_names import DEFAULT_METRIC
from ..params import SearchRange, param

MAX_CV_FOLDS = 5
Mode = Literal["add", "interpolate"]
Alpha = float | str
Candidate = tuple[dict[str, float], np.ndarray]
"""A setting of a head's other parameters (``{"beta": 2.0}``, or ``{}``) and its out-of-fold term of every training row."""


def alpha_param(default: Alpha, meaning: str, high: float | None = None, sweep: SearchRange | None = None) -> Any:
    """The shared ``alpha`` parameter: 'auto' or a number from 0 (up to ``high``); ``meaning``: what α weighs (``sweep``: where a sweep looks)."""
    return param(
        default,
        f"{meaning}; 0 reproduces the zero-shot Run, 'auto' chooses by cross-validation on the training rows",
        low=0.0,
        high=high,
        auto=True,
        sweep=sweep,
    )


def blend(zeroshot_logits: np.ndarray, head_term: np.ndarray, alpha: float, mode: Mode) -> np.ndarray:
    """Logits of the mixture (rows of ``zeroshot_logits`` and ``head_term`` are the same images)."""
    if mode == "add":
        return zeroshot_logits + alpha * head_term
    from scipy.special import log_softmax

    return (1.0 - alpha) * log_softmax(zeroshot_logits, axis=1) + alpha * log_softmax(head_term, axis=1)


def cv_splits(labels: np.ndarray, seed: int, max_folds: int = MAX_CV_FOLDS) -> Folds | None:
    """Stratified folds of the training rows (at most ``max_folds``, at most the smallest class's count); ``None`` if a class has one row."""
    return capped_folds(labels, max_folds, seed)


def out_of_fold(
    n_rows: int, n_classes: int, splits: Sequence[tuple[np.ndarray, np.ndarray]], fit_term: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Each training row's head term from a head fitted without it: ``fit_term(fit_rows, held_rows)`` gives the held rows' terms."""
    terms = np.zeros((n_rows, n_classes))
    for fit_rows, held_rows in splits:
        terms[held_rows] = fit_term(fit_rows, held_rows)
    return terms


@dataclass(frozen=True)
class AlphaChoice:
    """The α (and other parameters) a head uses, how it was chosen, and the search behind it (scored by ``metric``)."""

    alpha: float
    chosen_by: str
    params: dict[str, float] = field(default_factory=dict)
    search: list[dict[str, float]] = field(default_factory=list)
    metric: str = DEFAULT_METRIC
    best_score: float | None = None

    def info(self) -> dict[str, Any]:
        """For the Run's metrics (one value per fold): the α, how it was chosen, the grid and each point's cross-validated metric."""
        return {"alpha": self.alpha, "alpha_chosen_by": self.chosen_by, f"alpha_cv_{self.metric}": self.best_score, "alpha_search": self.search}


def fixed_alpha(alpha: float, params: dict[str, float] | None = None) -> AlphaChoice:
    """α given on the command line: nothing searched."""
    return AlphaChoice(alpha=alpha, chosen_by="fixed by --alpha", params=params or {})


def fallback_alpha(alpha: float, params: dict[str, float] | None = None) -> AlphaChoice:
    """``--alpha auto`` where cross-validation is impossible (a class with one training row): the head's default, said so."""
    reason = f"fallback: a class has a single training row, so alpha cannot be cross-validated; used the default {alpha:g}"
    return AlphaChoice(alpha=alpha, chosen_by=reason, params=params or {})


def choose_alpha(
    zeroshot_logits: np.ndarray,
    labels: np.ndarray,
    candidates: Sequence[Candidate],
    alphas: Sequence[float],
    mode: Mode,
    n_folds: int,
    metric: str = DEFAULT_METRIC,
    classes: Sequence[str] | None = None,
) -> AlphaChoice:
    """The (parameters, α) whose blend of out-of-fold terms scores the training rows best by the competition's ``metric``.

    Every row is scored by a head that did not see it, so the score is a cross-validated one,
    taken in the metric's direction (log loss: lower). The blend's softmax is what the metric
    reads, as the Run's probabilities would be. ``labels`` index ``classes`` (class names: quadratic
    kappa orders them). Ties go to the first candidate and the smallest α (the grid is searched in
    order), so a head that does not help leaves zero-shot as it was when 0 is in the grid.
    """
    from scipy.special import softmax

    from ..runs.competition_metric import get_metric

    chosen = get_metric(metric)
    names = [str(c) for c in classes] if classes is not None else [str(k) for k in range(zeroshot_logits.shape[1])]
    truth = np.asarray(names)[np.asarray(labels)]
    sign = 1.0 if chosen.greater_is_better else -1.0
    search, best = [], None
    for params, term in candidates:
        for alpha in sorted(alphas):
            score = chosen.score(truth, softmax(blend(zeroshot_logits, term, alpha, mode), axis=1), names)
            search.append({**params, "alpha": float(alpha), f"cv_{metric}": score})
            if best is None or sign * score > sign * best[0]:
                best = (score, float(alpha), params)
    assert best is not None, "choose_alpha needs at least one candidate and one alpha"
    how = f"cross-validation on the training rows ({n_folds} folds{'' if metric == DEFAULT_METRIC else ', ' + metric})"
    return AlphaChoice(alpha=best[1], chosen_by=how, params=dict(best[2]), search=search, metric=metric, best_score=best[0])

"""The numbers of the report page: one row per Run, every score with its 95 % interval.

Local Runs give the competition's metric (``metric``, ``val_metric``, ``metric_interval``: Wilson
for a mean of per-row right/wrong, else a seeded bootstrap over the validation rows), validation
accuracy (Wilson interval on their validation rows), balanced accuracy (seeded bootstrap over the
same rows) and a paired test against the best Run by that metric on the same split (McNemar's
exact test on the rows they disagree about for a per-row metric, else a paired bootstrap). When
every Run on the table shares one metric other than accuracy, its columns lead and the rows are
sorted by it, best first (log loss ascending); an accuracy table keeps its order (oldest Run first). Submitted scores come
from the caller (``cornkit.kaggle.leaderboard.submitted_scores``, which this layer does not
import): public and private LB get the Wilson interval of the rows Kaggle scored them on, the
submission's test rows times the public share and the rest. A submission with no Run in the
work folder (a kernel's) still gets its row, with the numbers it has.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..metric_names import DEFAULT_METRIC
from ..runs.competition_metric import get_metric
from ..runs.intervals import (
    balanced_accuracy_interval,
    mcnemar_exact,
    metric_interval,
    paired_from_resamples,
    percentile_interval,
    resample_scores,
    score_interval,
    wilson_interval,
)
from ..runs.run import Run

RUN_KEYS = frozenset({"approach", "model", "classes", "split_id", "id_column", "features"})
"""Config entries shown in columns of their own (or hashes no reader needs), left out of "key parameters"."""
SIGNIFICANCE = 0.05
KERNEL_PREFIX = "kernel-"
"""How ``cornkit kernels output`` names the run id of a kernel's submission."""
SCORE_COLUMNS = ("run_id", "approach", "model", "val_accuracy", "public_lb", "private_lb", "test_rows")
METRIC_COLUMNS = ("metric", "val_metric", "metric_interval")
"""The competition's metric of each Run (its split's), its value on the validation rows and its 95 % interval."""
MCNEMAR = "McNemar's exact test"
BOOTSTRAP = "paired bootstrap"


@dataclass(frozen=True)
class Versus:
    """A Run against the best Run on its split: the reference, the gap in the split's metric and the paired test's p.

    ``difference`` is this Run's metric minus the best's in the metric's direction (negative: worse;
    for log loss the best's loss minus this one's): the accuracy gap for McNemar's test.
    """

    best: str
    difference: float
    p_value: float
    test: str = MCNEMAR
    """Which paired test gave ``p_value``: :data:`MCNEMAR` (a per-row metric) or :data:`BOOTSTRAP`."""
    metric: str = DEFAULT_METRIC
    interval: tuple[float, float] | None = None
    """The bootstrap's 95 % interval of ``difference`` (none for McNemar's test)."""

    @property
    def beyond_noise(self) -> bool:
        """At the 5 % level: one test per Run against the best, not corrected for the number of Runs."""
        return self.p_value < SIGNIFICANCE

    @property
    def verdict(self) -> str:
        return f"{'beyond' if self.beyond_noise else 'within'} noise ({self.test})"


@dataclass(frozen=True)
class Parameters:
    """A Run's "key parameters" cell: what differs from the other Runs of its approach, then the rest.

    Two parts so the page truncates only the rest: the differing part is what tells the Runs of an
    approach apart (two probes that differ only in ``cs`` would otherwise read the same).
    """

    differing: str = ""
    rest: str = ""

    def __str__(self) -> str:
        return ", ".join(part for part in (self.differing, self.rest) if part)


def _shown(value: object) -> str:
    """A config value as the cell shows it: a scalar as Python prints it, a list or mapping as compact JSON (a tuple as its saved list)."""
    return str(value) if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True, default=str)


def differing_parameters(configs: Sequence[dict]) -> list[str]:
    """The config entries (outside :data:`RUN_KEYS`) whose values are not the same in every config, by name; none for one config."""
    names = sorted({name for config in configs for name in config} - RUN_KEYS)
    return [name for name in names if len({_shown(config.get(name)) for config in configs}) > 1]


def key_parameters(config: dict, differing: Sequence[str] = ()) -> Parameters:
    """The ``differing`` entries first (nested ones too: they are what tells Runs apart), then the scalar settings, ``name=value``.

    Nested settings that do not differ (prompt sets, grids) are left to the full config.
    """
    rest = (
        f"{name}={value}"
        for name, value in sorted(config.items())
        if name not in RUN_KEYS and name not in differing and value is not None and isinstance(value, (str, int, float, bool))
    )
    return Parameters(", ".join(f"{name}={_shown(config.get(name))}" for name in differing), ", ".join(rest))


@dataclass(frozen=True)
class _Scored:
    """A Run's validation predictions, worked out once (a page of 200 Runs asks for them several times each)."""

    labels: np.ndarray
    predicted: np.ndarray
    correct: pd.Series
    metric: str = DEFAULT_METRIC
    value: float = np.nan
    """The metric on the validation rows: ``val_<metric>`` of ``metrics.json``, recomputed from the probabilities for a Run made before it was recorded."""
    probs: pd.DataFrame | None = None
    """Validation probabilities by id and class, for a paired bootstrap (none for a per-row metric)."""
    seed: int = DEFAULT_SEED
    _resampled: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of(cls, run: Run, seed: int = DEFAULT_SEED) -> _Scored:
        labels, predicted = run.val_labels, run.val_predictions()
        metric = get_metric(run.metric)
        recorded = run.metrics.get(f"val_{run.metric}")
        try:
            value = float(recorded) if recorded is not None else metric.score(labels, run.val_probs, run.classes)
        except ValueError:  # undefined on these rows (an AUC with one class among them)
            value = np.nan
        probs = None if metric.per_row else pd.DataFrame(run.val_probs, index=run.val_ids, columns=list(run.classes))
        return cls(labels, predicted, pd.Series(labels == predicted, index=run.val_ids), run.metric, value, probs, seed)

    def resampled(self) -> np.ndarray:
        """The metric on each seeded bootstrap resample of the validation rows (NaN: undefined there), computed once."""
        if self.probs is None:
            raise ValueError(f"{self.metric} is a per-row metric: no bootstrap")
        if not self._resampled:
            self._resampled.append(resample_scores(self.metric, self.labels, self.probs.to_numpy(), list(self.probs.columns), seed=self.seed))
        return self._resampled[0]

    def interval(self, run: Run) -> tuple[float, float]:
        """The metric's 95 % interval: :func:`metric_interval`'s (Wilson, or the percentile bootstrap from the same resamples)."""
        if self.probs is None:
            return metric_interval(self.metric, self.labels, run.val_probs, run.classes, seed=self.seed)
        return percentile_interval(self.resampled())

    def confusion(self, classes: Sequence[str]) -> list[list[int]]:
        """Counts, true class down, predicted across (scikit-learn's ``confusion_matrix`` layout, without its per-call checks)."""
        position = {name: i for i, name in enumerate(classes)}
        truth, guess = (np.array([position.get(c, -1) for c in values], dtype=np.int64) for values in (self.labels, self.predicted))
        known = truth >= 0  # as scikit-learn does, a label outside the class list is not counted
        cells = truth[known] * len(classes) + guess[known]
        return np.bincount(cells, minlength=len(classes) ** 2).reshape(len(classes), len(classes)).tolist()


def shared_metric(runs: Sequence[Run]) -> str | None:
    """The one metric every Run here is scored by (accuracy for none), or None when Runs from splits of different metrics are mixed."""
    metrics = {run.metric for run in runs}
    return DEFAULT_METRIC if not metrics else metrics.pop() if len(metrics) == 1 else None


def _better_first(metric: str, value: float) -> float:
    """A sort key that puts the better value of ``metric`` first (NaN last)."""
    return np.inf if np.isnan(value) else -value if get_metric(metric).greater_is_better else value


def paired_against_best(runs: Sequence[Run], scored: dict[str, _Scored] | None = None, *, seed: int = DEFAULT_SEED) -> dict[str, Versus | str]:
    """Each Run against the best Run on its split by the split's metric (in its direction), paired on their validation rows.

    A per-row metric (accuracy) is compared by McNemar's exact test; any other by a paired
    bootstrap of the metric (:func:`~cornkit.runs.intervals.paired_from_resamples`). The best Run
    of a split maps to ``"best on its split"``; a Run whose rows are not the best Run's (made on
    other ids) maps to the reason it cannot be paired.
    """
    scored = scored or {run.run_id: _Scored.of(run, seed) for run in runs}
    by_split: dict[str, list[Run]] = {}
    for run in runs:
        by_split.setdefault(str(run.config.get("split_id", "")), []).append(run)
    result: dict[str, Versus | str] = {}
    for members in by_split.values():
        best = min(members, key=lambda r: _better_first(r.metric, scored[r.run_id].value))
        mine = scored[best.run_id]
        best_correct = mine.correct
        for run in members:
            theirs = scored[run.run_id]
            correct = theirs.correct
            if run is best:
                result[run.run_id] = "best on its split"
            elif len(correct) != len(best_correct) or set(correct.index) != set(best_correct.index):
                result[run.run_id] = f"not paired: other validation rows than {best.run_id}"
            elif run.metric != best.metric:
                result[run.run_id] = f"not paired: scored by {run.metric}, {best.run_id} by {best.metric}"
            elif mine.probs is None or theirs.probs is None:
                test = mcnemar_exact(correct.reindex(best_correct.index).to_numpy(), best_correct.to_numpy())
                result[run.run_id] = Versus(best.run_id, test.rows_apart / len(correct), test.p_value, MCNEMAR, run.metric)
            elif set(theirs.probs.columns) != set(mine.probs.columns):
                result[run.run_id] = f"not paired: other classes than {best.run_id}"
            else:
                result[run.run_id] = _bootstrap_versus(run, theirs, best.run_id, mine)
    return result


def _bootstrap_versus(run: Run, theirs: _Scored, best_id: str, best: _Scored) -> Versus:
    """The paired bootstrap of a Run against the best: on the same resamples when its rows come in the best's order, else resampled in that order."""
    assert theirs.probs is not None and best.probs is not None
    if theirs.probs.index.equals(best.probs.index) and list(theirs.probs.columns) == list(best.probs.columns):
        own = theirs.resampled()
    else:  # the same rows in another order: resample them as the best's are (the paired draws are the best's rows)
        aligned = theirs.probs.reindex(index=best.probs.index, columns=best.probs.columns).to_numpy()
        own = resample_scores(run.metric, best.labels, aligned, list(best.probs.columns), seed=best.seed)
    test = paired_from_resamples(run.metric, theirs.value, best.value, own, best.resampled())
    return Versus(best_id, test.difference, test.p_value, BOOTSTRAP, run.metric, test.interval)


def _test_rows(submitted: pd.DataFrame, run: Run) -> float:
    """Rows of the Run's submission file (what Kaggle scored), else of its test predictions."""
    rows = float(submitted["test_rows"].get(run.run_id, np.nan))
    return float(len(run.test)) if np.isnan(rows) else rows


def _lb_interval(score: float, rows: float) -> tuple[float, float]:
    if np.isnan(score) or np.isnan(rows) or rows < 1:
        return np.nan, np.nan
    return score_interval(score, int(rows))


def run_table(runs: Sequence[Run], scores: pd.DataFrame | None, public_frac: float, *, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """One row per Run (and per submission without a Run here), with intervals and the paired test.

    ``scores`` has :data:`SCORE_COLUMNS` (missing LB scores as NaN); ``public_frac`` is the
    share of a submission's test rows the public leaderboard scores.
    """
    if not 0 < public_frac < 1:
        raise CornkitError(f"--public-frac {public_frac:g}: give the public leaderboard's share of the test rows, between 0 and 1 (e.g. 0.3).")
    scores = pd.DataFrame(columns=list(SCORE_COLUMNS)) if scores is None else scores
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack column(s) {missing}")
    submitted = scores.drop_duplicates("run_id", keep="last").set_index("run_id")
    scored = {run.run_id: _Scored.of(run, seed) for run in runs}
    versus = paired_against_best(runs, scored, seed=seed)
    metric = shared_metric(runs)
    by_approach: dict[str, list[dict]] = {}
    for run in runs:
        by_approach.setdefault(run.approach, []).append(run.config)
    differing = {approach: differing_parameters(configs) for approach, configs in by_approach.items()}
    rows = []
    for run in runs:
        mine = scored[run.run_id]
        n, correct = len(run.val), int(mine.correct.sum())
        rows.append(
            {
                "run_id": run.run_id,
                "approach": run.approach,
                "model": run.model,
                "parameters": key_parameters(run.config, differing[run.approach]),
                "trained": "local",
                "split_id": str(run.config.get("split_id", "")),
                "n_val": n,
                "val_accuracy": float(run.metrics["val_accuracy"]),
                "val_interval": wilson_interval(correct, n),
                "val_balanced_accuracy": float(run.metrics.get("val_balanced_accuracy", np.nan)),
                "balanced_interval": balanced_accuracy_interval(mine.labels, mine.predicted, seed=seed),
                "confusion": mine.confusion(run.classes),
                "versus": versus[run.run_id],
                "metric": run.metric,
                "val_metric": mine.value,
                "metric_interval": mine.interval(run),
                "test_rows": _test_rows(submitted, run),
                **{c: float(submitted[c].get(run.run_id, np.nan)) for c in ("public_lb", "private_lb")},
            }
        )
    local = {run.run_id for run in runs}
    for run_id, row in submitted.iterrows():
        if str(run_id) not in local:
            rows.append(
                {
                    "run_id": str(run_id),
                    "approach": str(row["approach"]),
                    "model": "" if pd.isna(row["model"]) else str(row["model"]),
                    "parameters": Parameters(),
                    "trained": "kernel" if str(run_id).startswith(KERNEL_PREFIX) else "submitted, no Run here",
                    "split_id": "",
                    "n_val": 0,
                    "val_accuracy": float(row["val_accuracy"]),
                    "val_interval": (np.nan, np.nan),
                    "val_balanced_accuracy": np.nan,
                    "balanced_interval": (np.nan, np.nan),
                    "confusion": [],
                    "versus": "no validation rows here",
                    "metric": metric or "",
                    "val_metric": float(row["val_accuracy"]) if metric == DEFAULT_METRIC else np.nan,  # the ledger records accuracy only
                    "metric_interval": (np.nan, np.nan),
                    **{c: float(row[c]) for c in ("test_rows", "public_lb", "private_lb")},
                }
            )
    leads = metric is not None and metric != DEFAULT_METRIC
    table = pd.DataFrame(rows, columns=_columns(leads))
    if leads:
        assert metric is not None
        order = sorted(range(len(table)), key=lambda k: _better_first(metric, float(table["val_metric"].iloc[k])))
        table = table.iloc[order].reset_index(drop=True)
    public_rows = (table["test_rows"] * public_frac).round()
    table["public_interval"] = [_lb_interval(s, r) for s, r in zip(table["public_lb"], public_rows, strict=True)]
    table["private_interval"] = [_lb_interval(s, r) for s, r in zip(table["private_lb"], table["test_rows"] - public_rows, strict=True)]
    return table


_COLUMNS = [
    "run_id",
    "approach",
    "model",
    "parameters",
    "trained",
    "split_id",
    "n_val",
    "val_accuracy",
    "val_interval",
    "val_balanced_accuracy",
    "balanced_interval",
    "confusion",
    "versus",
    "test_rows",
    "public_lb",
    "private_lb",
    *METRIC_COLUMNS,
]


def _columns(leads: bool) -> list[str]:
    """The table's columns: the metric's right after ``run_id`` when it leads, else after the others (an accuracy table's columns as before)."""
    if not leads:
        return _COLUMNS
    rest = [c for c in _COLUMNS if c not in METRIC_COLUMNS]
    return [rest[0], *METRIC_COLUMNS, *rest[1:]]

"""The numbers of the report page: one row per Run, every score with its 95 % interval.

Local Runs give validation accuracy (Wilson interval on their validation rows), balanced
accuracy (seeded bootstrap over the same rows) and a paired test against the best Run made on
the same split (McNemar's exact test on the rows they disagree about). Submitted scores come
from the caller (``cornkit.kaggle.leaderboard.submitted_scores``, which this layer does not
import): public and private LB get the Wilson interval of the rows Kaggle scored them on, the
submission's test rows times the public share and the rest. A submission with no Run in the
work folder (a kernel's) still gets its row, with the numbers it has.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..runs.intervals import balanced_accuracy_interval, mcnemar_exact, score_interval, wilson_interval
from ..runs.run import Run

RUN_KEYS = frozenset({"approach", "model", "classes", "split_id", "id_column", "features"})
"""Config entries shown in columns of their own (or hashes no reader needs), left out of "key parameters"."""
SIGNIFICANCE = 0.05
KERNEL_PREFIX = "kernel-"
"""How ``cornkit kernels output`` names the run id of a kernel's submission."""
SCORE_COLUMNS = ("run_id", "approach", "model", "val_accuracy", "public_lb", "private_lb", "test_rows")


@dataclass(frozen=True)
class Versus:
    """A Run against the best Run on its split: the reference, the accuracy gap and McNemar's p."""

    best: str
    difference: float
    p_value: float

    @property
    def beyond_noise(self) -> bool:
        """At the 5 % level: one test per Run against the best, not corrected for the number of Runs."""
        return self.p_value < SIGNIFICANCE

    @property
    def verdict(self) -> str:
        return "beyond noise" if self.beyond_noise else "within noise"


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

    @classmethod
    def of(cls, run: Run) -> _Scored:
        labels, predicted = run.val_labels, run.val_predictions()
        return cls(labels, predicted, pd.Series(labels == predicted, index=run.val_ids))

    def confusion(self, classes: Sequence[str]) -> list[list[int]]:
        """Counts, true class down, predicted across (scikit-learn's ``confusion_matrix`` layout, without its per-call checks)."""
        position = {name: i for i, name in enumerate(classes)}
        truth, guess = (np.array([position.get(c, -1) for c in values], dtype=np.int64) for values in (self.labels, self.predicted))
        known = truth >= 0  # as scikit-learn does, a label outside the class list is not counted
        cells = truth[known] * len(classes) + guess[known]
        return np.bincount(cells, minlength=len(classes) ** 2).reshape(len(classes), len(classes)).tolist()


def paired_against_best(runs: Sequence[Run], scored: dict[str, _Scored] | None = None) -> dict[str, Versus | str]:
    """Each Run against the most accurate Run on its split, paired on their validation rows.

    The best Run of a split maps to ``"best on its split"``; a Run whose rows are not the best
    Run's (made on other ids) maps to the reason it cannot be paired.
    """
    scored = scored or {run.run_id: _Scored.of(run) for run in runs}
    by_split: dict[str, list[Run]] = {}
    for run in runs:
        by_split.setdefault(str(run.config.get("split_id", "")), []).append(run)
    result: dict[str, Versus | str] = {}
    for members in by_split.values():
        best = max(members, key=lambda r: float(r.metrics["val_accuracy"]))
        best_correct = scored[best.run_id].correct
        for run in members:
            correct = scored[run.run_id].correct
            if run is best:
                result[run.run_id] = "best on its split"
            elif len(correct) != len(best_correct) or set(correct.index) != set(best_correct.index):
                result[run.run_id] = f"not paired: other validation rows than {best.run_id}"
            else:
                test = mcnemar_exact(correct.reindex(best_correct.index).to_numpy(), best_correct.to_numpy())
                result[run.run_id] = Versus(best.run_id, test.rows_apart / len(correct), test.p_value)
    return result


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
    scored = {run.run_id: _Scored.of(run) for run in runs}
    versus = paired_against_best(runs, scored)
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
                    **{c: float(row[c]) for c in ("test_rows", "public_lb", "private_lb")},
                }
            )
    table = pd.DataFrame(rows, columns=_COLUMNS)
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
]

"""``cornkit sweep show STUDY``: the trials table and Optuna's plots, written beside the study for the report page.

The table has one row per trial: its number, state, objective, the parameters it drew, its Run
and that Run's validation score, and in a kernels sweep the kernel that ran it. The plots are Optuna's own (its matplotlib backend): the
optimisation history, and the parameter importances once two trials completed with parameters
that vary. All three go to ``WORK/sweeps/<study>/`` (``trials.csv``, ``history.png``,
``importance.png``), where ``cornkit report`` finds them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import atomic
from .storage import sweeps_dir
from .study import IDENTITY_ATTR, KERNEL_ATTR, RUN_ID_ATTR, quiet_optuna

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

TRIALS_CSV = "trials.csv"
HISTORY_PNG = "history.png"
IMPORTANCE_PNG = "importance.png"


def study_dir(work: str | Path, study: str) -> Path:
    return sweeps_dir(work) / study


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, in trial order."""
    metric = study.user_attrs.get(IDENTITY_ATTR, {}).get("metric", "accuracy")
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row = {"trial": trial.number, "state": trial.state.name, "objective": trial.value}
        row.update(trial.params)
        row["run_id"] = trial.user_attrs.get(RUN_ID_ATTR)
        row[f"val_{metric}"] = trial.user_attrs.get(f"val_{metric}")
        if KERNEL_ATTR in trial.user_attrs:  # a kernels sweep: which kernel runs (or ran) the trial
            row["kernel"] = trial.user_attrs[KERNEL_ATTR]
        rows.append(row)
    return pd.DataFrame(rows)


def _figure(axes: Any) -> Any:
    """The whole figure of an Optuna plot's axes."""
    return axes.get_figure(root=True)


def write_study_files(study: optuna.Study, work: str | Path) -> list[Path]:
    """``trials.csv`` and the plots of ``study`` under ``WORK/sweeps/<study>/``; returns what was written."""
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    from ..plots import save_png

    folder = study_dir(work, study.study_name)
    folder.mkdir(parents=True, exist_ok=True)
    written = [atomic.write_csv(folder / TRIALS_CSV, trials_table(study))]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return written
    with quiet_optuna():
        written.append(save_png(_figure(optuna_plots.plot_optimization_history(study)), folder / HISTORY_PNG))
        varied = {name for name in complete[0].params if len({t.params.get(name) for t in complete}) > 1}
        if len(complete) >= 2 and varied:
            written.append(save_png(_figure(optuna_plots.plot_param_importances(study)), folder / IMPORTANCE_PNG))
        else:
            log.info("no parameter importances yet: they need two completed trials whose parameters differ.")
    return written

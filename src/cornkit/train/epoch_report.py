"""Each epoch's monitor score, told to whoever listens (a sweep's pruner): a fastai callback.

A sweep stops a hopeless trial early (Optuna's pruners) only if the trial says how it is doing
as it trains. This callback reads the monitor score that fastai's recorder logged for the
epoch, in the competition's metric, and passes ``(step, score)`` on. The step counts every
epoch the callback has seen, across the head-only and whole-network phases and across folds,
so that trials compare at the same step. What the listener raises (Optuna's ``TrialPruned``)
ends the training, and the fine-tune's scratch folder goes with it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastai.callback.core import Callback
from fastai.callback.tracker import TrackerCallback

EpochReport = Callable[[int, float], None]


class ReportEachEpoch(Callback):
    """After each epoch with monitor rows, ``report(step, score of monitor)``; without monitor rows it reports nothing."""

    order = TrackerCallback.order + 1  # after the recorder and the best-epoch tracker have read the epoch

    def __init__(self, report: EpochReport, monitor: str) -> None:
        self.report, self.monitor = report, monitor
        self.step = 0
        self.index: int | None = None

    def before_fit(self) -> None:
        names = list(self.learn.recorder.metric_names[1:-1])
        self.index = names.index(self.monitor) if self.learn.recorder.valid_metrics and self.monitor in names else None

    def after_epoch(self) -> None:
        if self.index is None:
            return
        score = float(self.learn.recorder.values[-1][self.index])
        step, self.step = self.step, self.step + 1
        self.report(step, score)


def epoch_report_callbacks(report: EpochReport | None, metric: str) -> list[Callback]:
    """The callback for ``report`` (none when nobody listens)."""
    return [] if report is None else [ReportEachEpoch(report, metric)]

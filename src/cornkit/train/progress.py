"""Progress a person can follow anywhere: fastai's bars on a terminal, one plain line per epoch elsewhere.

A log file, CI or a Kaggle kernel shows carriage-return bar fragments as garbage; there the
learner trains without fastai's ``ProgressCallback`` and :class:`EpochLines` prints one line
per epoch instead: epoch, train loss, monitor accuracy, seconds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.learner import Learner
from fastcore.basics import noop

from .. import distributed

log = logging.getLogger(__name__)


def bars_wanted() -> bool:
    """Bars only when standard output is a terminal."""
    return sys.stdout.isatty()


def epoch_line(epoch: int, n_epochs: int, phase: str, loss: float, accuracy: float | None, seconds: float, others: dict[str, float] | None = None) -> str:
    """``epoch 2/5 (all layers): train loss 0.8123, monitor accuracy 0.7100, 12.3 s`` (no accuracy without monitor rows).

    ``others`` are the competition's metric when it is not accuracy (``monitor log_loss 0.5123``).
    """
    monitor = f", monitor accuracy {accuracy:.4f}" if accuracy is not None else ""
    monitor += "".join(f", monitor {name} {value:.4f}" for name, value in (others or {}).items())
    return f"epoch {epoch}/{n_epochs} ({phase}): train loss {loss:.4f}{monitor}, {seconds:.1f} s"


class EpochLines(Callback):
    """One line per epoch on standard output, flushed at once: ``epoch 2/5 (ft): train loss 0.8123, monitor accuracy 0.7100, 12.3 s``."""

    order = 70  # after the Recorder (50) has the epoch's numbers

    def __init__(self, phase: str):
        self.phase = phase
        self.started = 0.0

    def before_epoch(self) -> None:
        self.started = time.monotonic()

    def after_epoch(self) -> None:
        recorder = self.learn.recorder
        loss = float(recorder.smooth_loss.value)
        names = list(recorder.metric_names[1:])
        values = dict(zip(names, self.learn.final_record, strict=False))
        accuracy = values.pop("accuracy", None)
        others = {name: float(value) for name, value in values.items() if name not in ("train_loss", "valid_loss", "time") and value is not None}
        seconds = time.monotonic() - self.started
        log.info("%s", epoch_line(self.epoch + 1, self.n_epoch, self.phase, loss, None if accuracy is None else float(accuracy), seconds, others))


@contextlib.contextmanager
def plain_progress(learn: Learner) -> Iterator[None]:
    """Without a terminal: no fastai bars and no fastai table (the epoch lines replace them); on a terminal, nothing changes."""
    if bars_wanted():
        yield
        return
    had_bar = any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
    learn.remove_cb(ProgressCallback)
    old_logger, learn.logger = learn.logger, noop
    try:
        yield
    finally:
        learn.logger = old_logger
        if had_bar:
            learn.add_cb(ProgressCallback())


def epoch_lines(phase: str) -> list[Callback]:
    """The epoch-line callback when bars are not wanted (none on a terminal, none on the helper ranks of a launch)."""
    return [] if bars_wanted() or distributed.rank() != 0 else [EpochLines(phase)]

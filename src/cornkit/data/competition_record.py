"""What ``cornkit download`` learnt about the competition beside its files: its evaluation metric, as Kaggle names it.

The record (``cornkit-competition.json`` in the data folder) lets ``cornkit split`` score by the
competition's metric without ``--metric``: Kaggle's name ("Multiclass Loss") is mapped to the
kit's (``log_loss``) once the classes are known, since an AUC is one metric on two classes and
another on more (:func:`cornkit.metric_names.metric_from_kaggle`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from ..metric_names import METRIC_NAMES, metric_from_kaggle

RECORD = "cornkit-competition.json"
log = logging.getLogger(__name__)


def recorded_evaluation_metric(root: Path) -> str | None:
    """The evaluation metric's name that ``cornkit download`` recorded in ``root``, or None (no record, or none reported)."""
    try:
        metric = json.loads((root / RECORD).read_text()).get("evaluation_metric")
    except (OSError, ValueError, AttributeError):
        return None
    return metric if isinstance(metric, str) and metric else None


def competition_metric(root: Path, classes: Sequence[str]) -> tuple[str, str] | None:
    """(the kit's metric, Kaggle's name for it) for the competition in ``root``; None without a record or for a metric the kit lacks (said in one line)."""
    evaluation_metric = recorded_evaluation_metric(root)
    if evaluation_metric is None:
        return None
    name = metric_from_kaggle(evaluation_metric, classes)
    if name is None:
        log.warning(
            "the competition's evaluation metric %r is not one the kit computes; scoring by accuracy. Give --metric (one of %s) to choose another.",
            evaluation_metric,
            ", ".join(METRIC_NAMES),
        )
        return None
    return name, evaluation_metric

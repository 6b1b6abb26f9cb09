"""The one fold runner: fit a model per fold, gather out-of-fold validation and mean test probabilities, make the Run.

Every head does the same thing over a split, whatever it fits (a probe on cached features,
a fine-tuned network): the validation probabilities of fold ``k`` come from the model that
did not train on it, the test probabilities are the mean over the fold models, and each
fold's facts (chosen C, learning rate, ...) become a metric with one value per fold. A
``--fold K`` Run trains only some folds: its validation rows are those folds' rows, in split order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data.split import Split, ValidationRows
from .run import Run, make_run


@dataclass
class FoldOutput:
    """One fold's answer: its validation rows and their probabilities, the test probabilities, facts for the metrics."""

    val_ids: np.ndarray
    val_probs: np.ndarray
    test_probs: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def run_from_folds(
    *,
    approach: str,
    model: str,
    classes: Sequence[str],
    split: Split,
    outputs: Sequence[FoldOutput],
    test_ids: np.ndarray,
    config: dict[str, Any],
    seed: int,
) -> Run:
    """The Run of ``outputs``: out-of-fold validation probabilities in split order, mean test probabilities, per-fold metrics."""
    val_ids = np.concatenate([o.val_ids for o in outputs])
    in_split_order = split.evaluation_ids()[np.isin(split.evaluation_ids(), val_ids)]
    position = pd.Index(val_ids).get_indexer(in_split_order)
    rows = ValidationRows(ids=in_split_order, labels=split.labels_of(in_split_order), split_id=split.split_id, id_column=split.id_column, metric=split.metric)
    run = make_run(
        approach=approach,
        model=model,
        classes=classes,
        split=rows,
        val_probs=np.concatenate([o.val_probs for o in outputs])[position],
        test_ids=test_ids,
        test_probs=np.mean([o.test_probs for o in outputs], axis=0),
        config=config,
        seed=seed,
    )
    for key in outputs[0].info:
        run.metrics[key] = [o.info[key] for o in outputs]
    return run

"""The member Runs of a Run made from Runs (an ensemble, a stack): checked to belong together, then aligned.

Members must have been made on the same split (``split_id``), over the same validation and
test ids, with the same class order; anything else is refused with the mismatch named, because
combining misaligned probabilities gives a plausible-looking but meaningless Run. Rows are
matched by id, never by position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CornkitError
from .run import Run


def check_compatible(runs: Sequence[Run], what: str = "an ensemble") -> None:
    """Refuse Runs that cannot be combined into ``what``, naming the first mismatch."""
    if len(runs) < 2:
        raise CornkitError(f"{what} needs at least two Runs, got {len(runs)}.")
    ids = [run.run_id for run in runs]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CornkitError(f"Run {repeated[0]} is listed more than once; list each Run once (to weight one up in an ensemble, give --weights instead).")
    first = runs[0]
    for run in runs:
        if "split_id" not in run.config:
            raise CornkitError(f"Run {run.run_id} does not record the split it was validated on (no split_id in config.json); make it again.")
    for run in runs[1:]:
        if run.config["split_id"] != first.config["split_id"]:
            raise CornkitError(
                f"Run {run.run_id} was made on split {run.config['split_id']}, Run {first.run_id} on split {first.config['split_id']}: "
                "their validation scores are not comparable. Re-make one of them on the current split."
            )
        if tuple(run.classes) != tuple(first.classes):
            raise CornkitError(
                f"Run {run.run_id} has classes {list(run.classes)}, Run {first.run_id} has {list(first.classes)}: "
                "the class order differs. Re-make one of them with the same --classes."
            )
        for part, name in (("val", "validation"), ("test", "test")):
            own, reference = set(getattr(run, f"{part}_ids")), set(getattr(first, f"{part}_ids"))
            if own != reference:
                example = min(own ^ reference)
                raise CornkitError(
                    f"Run {run.run_id} and Run {first.run_id} have different {name} ids (e.g. {example} is in only one of them; "
                    f"{len(own)} vs {len(reference)} rows). Were they made with different --fold or --data?"
                )


def check_current_split(runs: Sequence[Run], split_id: str) -> None:
    """Refuse members made on another split than ``split_id``, the one the work folder holds now."""
    for run in runs:
        if run.config.get("split_id") != split_id:
            raise CornkitError(
                f"Run {run.run_id} was made on split {run.config.get('split_id')}, but the work folder now holds split {split_id}: "
                "re-make it on the current split, or leave it out."
            )


def aligned_probs(runs: Sequence[Run], part: str) -> np.ndarray:
    """Probabilities of every Run for ``part`` ("val" or "test"), rows in the first Run's id order: (runs, rows, classes)."""
    order = getattr(runs[0], f"{part}_ids")
    stacked = []
    for run in runs:
        frame = getattr(run, part).set_index(run.id_column).loc[order]
        stacked.append(frame[list(runs[0].classes)].to_numpy(dtype=np.float64))
    return np.stack(stacked)


def class_positions(run: Run) -> np.ndarray:
    """The true class of each validation row of ``run`` as an index into its classes."""
    return np.asarray([run.classes.index(label) for label in run.val_labels])

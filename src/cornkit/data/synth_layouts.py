"""The synthetic set's layouts: the same images, labelled and submitted the way other competitions ask.

- ``corn``: It's Corn's files, a label column in ``sample_submission.csv``;
- ``probabilities``: one probability column per class in the sample, as log-loss competitions ask;
- ``binary``: labels ``0`` (a pure kernel) and ``1`` (a defective one), and one column in the
  sample for the probability of ``1``, as ROC AUC competitions ask.

Apart from :mod:`.synth` (which draws the images with NumPy and Pillow) so that the command
line can offer ``--layout`` without loading either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LAYOUTS: tuple[str, ...] = ("corn", "probabilities", "binary")
BINARY_LABELS = {"pure": "0", "broken": "1", "discolored": "1", "silkcut": "1"}
"""The ``binary`` layout's labels: is the kernel defective (``1``) or pure (``0``)."""


def relabel(labels: pd.Series, layout: str) -> pd.Series:
    """The layout's labels for drawn classes: the class names, or ``0``/``1`` for ``binary``."""
    return labels.map(BINARY_LABELS) if layout == "binary" else labels


def sample_submission(ids: pd.DataFrame, classes: Sequence[str], layout: str) -> pd.DataFrame:
    """The layout's ``sample_submission.csv``: the test ids and placeholder values of its kind."""
    if layout == "probabilities":
        return ids.assign(**{name: 1 / len(classes) for name in classes})
    if layout == "binary":
        return ids.assign(label=0.5)
    return ids.assign(label=classes[0])

"""Row ids as the competition writes them: text, compared and written back verbatim.

Kaggle's ids come in every shape: integers (It's Corn's ``seed_id``), hex codes (Dog Breed
Identification), file names with or without an extension (Cassava's ``image_id``). The kit keeps
each id as the text of its CSV cell, so ``0042`` is written back as ``0042`` and never becomes
``42``; integer ids of Runs and caches made before ids were text read back as the same text.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def id_array(ids: Iterable[object]) -> np.ndarray:
    """The ids as a NumPy text array: saved by ``np.save`` without pickle, compared as text."""
    return np.asarray([str(i) for i in ids], dtype=str)


def first_repeat(ids: Iterable[str]) -> tuple[int, int] | None:
    """(row of the first id seen before, row where it was first seen), 0-based; None when every id is unique."""
    first_row: dict[str, int] = {}
    for row, value in enumerate(ids):
        if value in first_row:
            return row, first_row[value]
        first_row[value] = row
    return None

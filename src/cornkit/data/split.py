"""The validation split every approach shares, saved so it can always be recovered.

``WORK/split.csv`` has one row per training image: its id (under the competition's id column
name), its label and its ``fold``. For a
holdout split the validation rows have fold 0 and the training rows fold -1; for k folds every
row has its fold 0..k-1. ``WORK/split.json`` records how it was made and, as ``split_id``, the
hash of the CSV's bytes; it is written second, so a write cut short between the two files is
caught instead of pairing a new split with old parameters. Asking again with the same
arguments returns the saved split untouched; asking for a different one is refused unless
forced, because every Run scored on the old split would silently stop being comparable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..atomic import write_csv, write_json
from ..defaults import DEFAULT_SEED
from ..errors import CornkitError
from ..hashing import files_hash
from ..locks import locked
from ..metric_names import DEFAULT_METRIC, check_metric_classes, check_metric_name
from .dataset import Dataset
from .folds import stratified_folds

SPLIT_CSV = "split.csv"
SPLIT_JSON = "split.json"
HOLDOUT_TRAIN_FOLD = -1


@dataclass(frozen=True)
class ValidationRows:
    """The rows a Run reports on: ids in the split's order, their true labels, and the split they come from."""

    ids: np.ndarray
    labels: np.ndarray
    split_id: str
    id_column: str
    metric: str = DEFAULT_METRIC
    """The competition's metric, which the Run made on these rows reports as ``val_<metric>``."""


@dataclass(frozen=True)
class Split:
    """A saved split: which training rows validate which model."""

    frame: pd.DataFrame
    params: dict[str, Any]
    split_id: str

    @property
    def n_folds(self) -> int:
        """1 for a holdout split, k for k folds."""
        return int(self.params.get("folds") or 1)

    @property
    def metric(self) -> str:
        """The competition's metric (``--metric``); a split that records none scores by accuracy."""
        return str(self.params.get("metric", DEFAULT_METRIC))

    @property
    def id_column(self) -> str:
        """The competition's id column, the first column of ``split.csv``."""
        return str(self.frame.columns[0])

    def evaluation_ids(self) -> np.ndarray:
        """The rows a Run reports on: the holdout rows, or every row (out-of-fold) for k folds."""
        return self.frame.loc[self.frame["fold"] >= 0, self.id_column].to_numpy()

    def validation_rows(self) -> ValidationRows:
        """The evaluation rows with their labels: what every Run made on this split reports on."""
        ids = self.evaluation_ids()
        return ValidationRows(ids=ids, labels=self.labels_of(ids), split_id=self.split_id, id_column=self.id_column, metric=self.metric)

    def labels_of(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """The true labels of training rows ``ids``, in that order."""
        return self.frame.set_index(self.id_column).loc[list(ids), "label"].astype(str).to_numpy()

    def valid_ids(self, fold: int = 0) -> np.ndarray:
        """Ids of the rows that validate a model trained for ``fold``."""
        self._check_fold(fold)
        return self.frame.loc[self.frame["fold"] == fold, self.id_column].to_numpy()

    def train_ids(self, fold: int = 0) -> np.ndarray:
        """Ids of the rows a model for ``fold`` may learn from."""
        self._check_fold(fold)
        return self.frame.loc[self.frame["fold"] != fold, self.id_column].to_numpy()

    def _check_fold(self, fold: int) -> None:
        if not 0 <= fold < self.n_folds:
            raise CornkitError(f"--fold {fold}: this split has folds 0..{self.n_folds - 1} (see {SPLIT_JSON}).")


def _assign_folds(labels: pd.Series, valid_frac: float, folds: int | None, seed: int) -> np.ndarray:
    fold = np.full(len(labels), HOLDOUT_TRAIN_FOLD, dtype=int)
    positions = np.arange(len(labels))
    if folds:
        rarest = labels.value_counts()
        if rarest.min() < folds:
            raise CornkitError(
                f"--folds {folds}: class {rarest.idxmin()!r} has {rarest.min()} row(s), so some folds would validate on none of it; "
                f"give --folds {max(2, int(rarest.min()))} or fewer (or a holdout split with --valid-frac)."
            )
        for k, (_, valid) in enumerate(stratified_folds(labels.to_numpy(), folds, seed)):
            fold[valid] = k
    else:
        n_valid, n_classes = math.ceil(valid_frac * len(labels)), labels.nunique()
        if not n_classes <= n_valid <= len(labels) - n_classes:
            raise CornkitError(
                f"--valid-frac {valid_frac:g} holds out {n_valid} of {len(labels)} rows; a stratified split needs at least one row "
                f"of each of the {n_classes} classes on both sides: give a --valid-frac from {n_classes / len(labels):.3g} "
                f"to {1 - n_classes / len(labels):.3g}."
            )
        _, valid = train_test_split(positions, test_size=valid_frac, stratify=labels, random_state=seed)
        fold[valid] = 0
    return fold


def make_split(
    dataset: Dataset,
    work: str | Path,
    *,
    valid_frac: float = 0.2,
    folds: int | None = None,
    seed: int = DEFAULT_SEED,
    metric: str = DEFAULT_METRIC,
    force: bool = False,
) -> Split:
    """Make (or return the already saved) stratified split of ``dataset``'s training rows.

    ``folds=None`` gives a holdout of ``valid_frac``; ``folds=k`` gives k stratified folds.
    ``metric`` (the competition's) is recorded in ``split.json`` only when it is not the default,
    so a split asked for as before records the same parameters (the split id, a hash of the CSV,
    never depends on it); so is how the data was read when anything was named
    (``DataConfig.given``: ``--id-column``, ``--classes``, ...).
    """
    check_metric_classes(check_metric_name(metric), dataset.classes)
    if folds is not None and folds < 2:
        raise CornkitError(f"--folds {folds}: k-fold needs at least 2 folds (or leave --folds out for a holdout split).")
    if folds is None and not 0 < valid_frac < 1:
        raise CornkitError(f"--valid-frac {valid_frac}: must be between 0 and 1, e.g. 0.2.")
    label_col = dataset.label_column
    counts = dataset.train[label_col].value_counts()
    needed = folds or 2
    if counts.min() < needed:
        raise CornkitError(f"class {counts.idxmin()!r} has {counts.min()} training rows; a stratified split needs at least {needed}.")
    params: dict[str, Any] = {
        "kind": "kfold" if folds else "holdout",
        "valid_frac": None if folds else valid_frac,
        "folds": folds,
        "seed": seed,
        "data_fingerprint": dataset.fingerprint,
        "n_rows": len(dataset.train),
    }
    if metric != DEFAULT_METRIC:
        params["metric"] = metric
    if dataset.config.given():
        params["data"] = dataset.config.given()
    with locked(Path(work) / SPLIT_CSV, "make the split"):
        return _make_split_locked(dataset, Path(work), params, label_col, valid_frac, folds, seed, force)


def _make_split_locked(
    dataset: Dataset, work: Path, params: dict[str, Any], label_col: str, valid_frac: float, folds: int | None, seed: int, force: bool
) -> Split:
    """The check-then-write of :func:`make_split`, under the split's lock so two commands agree on one split."""
    csv_path, json_path = work / SPLIT_CSV, work / SPLIT_JSON
    if not force and (csv_path.exists() or json_path.exists()):
        saved = load_split(work)
        if {k: v for k, v in saved.params.items() if k != "split_id"} == params:
            return saved
        asked, had = {"metric": DEFAULT_METRIC, **params}, {"metric": DEFAULT_METRIC, **saved.params}  # no metric recorded: the default
        changed = {k: (had.get(k), v) for k, v in asked.items() if had.get(k) != v}
        detail = ", ".join(f"{k}: saved {old!r}, asked {new!r}" for k, (old, new) in changed.items())
        raise CornkitError(
            f"{csv_path} already holds a different split ({detail}). Runs scored on it would no longer be comparable; "
            "pass --force to replace it (and re-make the Runs), or use another --work folder."
        )
    frame = pd.DataFrame(
        {
            dataset.id_column: dataset.train[dataset.id_column].to_numpy(),
            "label": dataset.train[label_col].to_numpy(),
            "fold": _assign_folds(dataset.train[label_col], valid_frac, folds, seed),
        }
    )
    write_csv(csv_path, frame)
    write_json(json_path, {**params, "split_id": files_hash(csv_path)})
    return load_split(work)


def recorded_data_config(work: str | Path) -> dict[str, Any]:
    """How ``cornkit split`` was told to read the data (``--id-column`` and the like), so later commands need only ``--data``; empty without a split."""
    try:
        recorded = json.loads((Path(work) / SPLIT_JSON).read_text()).get("data", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def load_split(work: str | Path, dataset: Dataset | None = None) -> Split:
    """Read the saved split; with ``dataset``, also check that it was made from that data.

    It holds the split's lock, so a split being replaced is read before or after, never half.
    """
    with locked(Path(work) / SPLIT_CSV, "read the split", optional=True):
        return _load_split_locked(Path(work), dataset)


def _load_split_locked(work: Path, dataset: Dataset | None) -> Split:
    csv_path, json_path = work / SPLIT_CSV, work / SPLIT_JSON
    if not csv_path.exists() and not json_path.exists():
        raise CornkitError(f"no split in {work}: run `cornkit split --data DIR --work {work}` first.")
    split_id = files_hash(csv_path) if csv_path.exists() else None
    try:
        params = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError):
        params = {}
    # A split.json written before cornkit recorded the hash has no split_id: the CSV's hash is its id.
    if split_id is None or params.setdefault("split_id", split_id) != split_id:
        raise CornkitError(
            f"{csv_path} and {json_path} do not belong together (a split write was cut short, or one was edited by hand). "
            "Re-run `cornkit split --force` with the arguments you want; Runs made on a split of the same id stay valid."
        )
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)  # ids and labels verbatim: "01" stays "01"
    frame["fold"] = frame["fold"].astype(int)
    if dataset is not None:
        if params.get("data_fingerprint") != dataset.fingerprint:
            raise CornkitError(
                f"{csv_path} was made from other data than {dataset.root} (its training or test rows changed). "
                "Re-run `cornkit split --force`, or point --work at the folder made for this data."
            )
        if set(frame[frame.columns[0]]) != set(dataset.ids("train")):
            raise CornkitError(f"{csv_path} does not list the same ids as the training rows of {dataset.root}; re-run `cornkit split --force`.")
    return Split(frame=frame, params=params, split_id=split_id)

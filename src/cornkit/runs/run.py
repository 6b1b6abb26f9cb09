"""The Run: what every approach produces, and all that scoring, submitting and ensembling read.

A Run is class probabilities for the validation rows and the test rows, the class order, the
configuration that made it and its metrics. On disk it is ``WORK/runs/<run-id>/``:

- ``val_probs.csv``: the id column (``seed_id`` on It's Corn), one column per class, ``label``
  (the true class);
- ``test_probs.csv``: the id column, one column per class;
- ``metrics.json``: at least ``val_accuracy``;
- ``config.json``: everything needed to make it again (approach, model, split id, seed, ...);
- ``model.json`` and the fitted model it lists (:mod:`cornkit.runs.model`), which ``cornkit predict`` loads;
- whatever the approach adds (a WiSE-FT curve, ...).

The run id is ``<approach>-<model>-<hash of config>``, so the same configuration on the same
split always lands in the same folder; the folder is written whole or not at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, write_csv, write_json
from ..data.dataset import DEFAULT_ID_COLUMN
from ..data.ids import id_array
from ..data.split import Split, ValidationRows
from ..errors import CornkitError
from ..hashing import config_hash
from ..metric_names import DEFAULT_METRIC
from ..paths import check_length
from .calibration import CALIBRATED_METRIC, calibrate
from .checks import check_ids, check_probabilities, probability_table
from .competition_metric import get_metric
from .cut_points import CROSS_FITTED, CUT_METRIC, CUT_POINTS, choose_cut_points, expected_rating, labels_at
from .metrics import classification_metrics
from .model import RunModel, SavedModel, read_model, write_model

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
LABEL_COLUMN = "label"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "model"


def make_run_id(approach: str, model: str, config: dict[str, Any]) -> str:
    """``approach-model-hash``: readable, and stable for the same configuration."""
    return f"{_slug(approach)}-{_slug(model)[:40]}-{config_hash(config)}"


@dataclass
class Run:
    """Validation and test probabilities of one approach, with its config and metrics."""

    run_id: str
    classes: tuple[str, ...]
    val: pd.DataFrame
    test: pd.DataFrame
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    fitted: RunModel | None = field(default=None, repr=False)
    """The fitted model that made the test probabilities, on its way to disk (saved with the Run; :mod:`cornkit.runs.model`)."""

    @property
    def approach(self) -> str:
        return str(self.config.get("approach", "unknown"))

    @property
    def model(self) -> str:
        return str(self.config.get("model", ""))

    @property
    def metric(self) -> str:
        """The competition's metric of the split it was made on (recorded in the config only when it is not accuracy)."""
        return str(self.config.get("metric", DEFAULT_METRIC))

    def validation_score(self) -> str:
        """``validation log_loss 0.4123 (accuracy 0.8100)``: the competition's metric first, accuracy beside it (alone under accuracy)."""
        accuracy = f"accuracy {self.metrics.get('val_accuracy', float('nan')):.4f}"
        if self.metric == DEFAULT_METRIC:
            return f"validation {accuracy}"
        shown = f"validation {self.metric} {self.metrics.get(f'val_{self.metric}', float('nan')):.4f} ({accuracy})"
        if self.metrics.get(CUT_POINTS):
            shown += f"; its labels come from cut points on the expected rating: {self.metric} {self.metrics[CROSS_FITTED]:.4f} cross-fitted"
        return shown

    @property
    def id_column(self) -> str:
        """The competition's id column (recorded in the config; Runs made before it was recorded use ``seed_id``)."""
        return str(self.config.get("id_column", DEFAULT_ID_COLUMN))

    @property
    def val_ids(self) -> np.ndarray:
        return self.val[self.id_column].to_numpy()

    @property
    def test_ids(self) -> np.ndarray:
        return self.test[self.id_column].to_numpy()

    def saved_model(self) -> SavedModel:
        """The fitted model saved with this Run, checked (format, classes, file hashes) before anything is loaded."""
        if self.path is None:
            raise CornkitError(f"Run {self.run_id} is not saved yet: save it before loading its model.")
        return read_model(self.path, self.run_id, self.classes)

    def validation_rows(self) -> ValidationRows:
        """The rows this Run reports on, for a Run made from it (an ensemble, a stack)."""
        return ValidationRows(ids=self.val_ids, labels=self.val_labels, split_id=str(self.config["split_id"]), id_column=self.id_column, metric=self.metric)

    @property
    def val_probs(self) -> np.ndarray:
        return self.val[list(self.classes)].to_numpy(dtype=np.float64)

    @property
    def test_probs(self) -> np.ndarray:
        return self.test[list(self.classes)].to_numpy(dtype=np.float64)

    @property
    def val_labels(self) -> np.ndarray:
        return self.val[LABEL_COLUMN].astype(str).to_numpy()

    def val_predictions(self) -> np.ndarray:
        """The most probable class of each validation row (what ``val_probs.csv`` says; the validation metrics score these)."""
        return np.asarray(self.classes)[self.val_probs.argmax(axis=1)]

    def predict_labels(self, probs: np.ndarray) -> np.ndarray:
        """The class this Run submits for each row of ``probs``: cut from the expected rating when it records cut points, else the most probable."""
        cuts = self.metrics.get(CUT_POINTS)
        if cuts:
            return labels_at(expected_rating(probs, self.classes), cuts, self.classes)
        return np.asarray(self.classes)[np.asarray(probs).argmax(axis=1)]

    def test_predictions(self) -> np.ndarray:
        """The class this Run submits for each test row (:meth:`predict_labels`)."""
        return self.predict_labels(self.test_probs)


def make_run(
    *,
    approach: str,
    model: str,
    classes: Sequence[str],
    split: Split | ValidationRows,
    val_probs: np.ndarray,
    test_ids: Sequence[str] | np.ndarray,
    test_probs: np.ndarray,
    config: dict[str, Any],
    seed: int,
    calibrate_log_loss: bool = True,
) -> Run:
    """Assemble a Run from a head's probabilities and compute its validation metrics.

    ``val_probs`` follow the split's evaluation rows (``split.evaluation_ids()``), or the rows
    of the :class:`ValidationRows` given (a Run's own, for an ensemble of Runs); their ids,
    labels and the split id come from there, and the seed is recorded with them in the config.
    The split's metric is recorded too when it is not the default (so every Run id made on an
    accuracy split stays what it was), and scored as ``val_<metric>`` from the validation probabilities.
    Under log loss the probabilities are temperature-scaled first (:mod:`.calibration`), so the
    recorded ones are those the Run submits; ``calibrate_log_loss=False`` keeps them as given
    (probabilities calibrated already, or made to show how a table ranks them). Under quadratic
    kappa the Run may label by cut points on the expected rating instead (:mod:`.cut_points`).
    """
    rows = split.validation_rows() if isinstance(split, Split) else split
    classes = tuple(classes)
    config = {
        "approach": approach,
        "model": model,
        "classes": list(classes),
        **config,
        "split_id": rows.split_id,
        "id_column": rows.id_column,
        "seed": seed,
    }
    if rows.metric != DEFAULT_METRIC:
        config["metric"] = rows.metric
    for name, probs, n_rows in (("validation", val_probs, len(rows.ids)), ("test", test_probs, len(test_ids))):
        check_probabilities(
            np.asarray(probs, dtype=np.float64),
            classes,
            n_rows,
            f"{approach} ({model}), {name} rows",
            fix="Nothing was written: the model diverged or a class had no training rows; check the data and flags (e.g. a lower --lr).",
        )
    calibration: dict[str, float] = {}
    if rows.metric == CALIBRATED_METRIC and calibrate_log_loss:
        calibrated = calibrate(rows.labels, classes, np.asarray(val_probs, dtype=np.float64), np.asarray(test_probs, dtype=np.float64), seed)
        val_probs, test_probs, calibration = calibrated.val_probs, calibrated.test_probs, calibrated.metrics
    val = pd.DataFrame(val_probs, columns=list(classes))
    val.insert(0, rows.id_column, id_array(rows.ids))
    val[LABEL_COLUMN] = np.asarray(rows.labels, dtype=str)
    test = pd.DataFrame(test_probs, columns=list(classes))
    test.insert(0, rows.id_column, id_array(test_ids))
    run = Run(run_id=make_run_id(approach, model, config), classes=classes, val=val, test=test, config=config)
    run.metrics = classification_metrics(run.val_labels, run.val_predictions(), classes)
    run.metrics[f"val_{rows.metric}"] = get_metric(rows.metric).score(run.val_labels, run.val_probs, classes)
    run.metrics.update(calibration)
    if rows.metric == CUT_METRIC:
        run.metrics.update(choose_cut_points(rows.labels, classes, run.val_probs, seed))
    return run


def save_run(run: Run, work: str | Path, write_artifacts: Callable[[Path], None] | None = None) -> Path:
    """Write ``run`` to ``WORK/runs/<run-id>/`` in one piece, with its fitted model; ``write_artifacts`` adds files to it.

    The probabilities are checked again here, so a Run assembled without :func:`make_run` (or
    changed after it) is not written either.
    """
    for name, frame in (("validation", run.val), ("test", run.test)):
        probability_table(frame, run.classes, f"Run {run.run_id}, {name} rows", fix="Nothing was written.")
    target = Path(work) / RUNS_DIR / run.run_id
    with atomic_dir(target) as folder:
        write_csv(folder / "val_probs.csv", run.val)
        write_csv(folder / "test_probs.csv", run.test)
        write_json(folder / "config.json", run.config)
        write_json(folder / "metrics.json", run.metrics)
        if run.fitted is not None:
            write_model(folder, run.fitted, run.classes)
        if write_artifacts is not None:
            write_artifacts(folder)
    run.path = target
    return target


def resolve_run_path(run: str | Path, work: str | Path) -> Path:
    """A Run folder from a path or a run id (looked up under ``WORK/runs``)."""
    check_length(Path(work) / RUNS_DIR / str(run), f"Run {str(run)[:40]!r}")
    candidates = [Path(run), Path(work) / RUNS_DIR / str(run)]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    runs_dir = Path(work) / RUNS_DIR
    known = sorted(p.name for p in runs_dir.iterdir() if (p / "config.json").is_file()) if runs_dir.is_dir() else []
    matches = [name for name in known if name.startswith(str(run))]
    if len(matches) == 1:
        return runs_dir / matches[0]
    if matches:
        raise CornkitError(f"{str(run)!r} could be any of {len(matches)} Runs ({', '.join(matches)}): give more of the run id.")
    hint = f" Runs in {runs_dir}: {', '.join(known)}." if known else f" No Runs in {runs_dir} yet."
    raise CornkitError(f"no Run {str(run)!r}: give a run id or a Run folder.{hint}")


def load_run(run: str | Path, work: str | Path = "work") -> Run:
    """Read a Run folder (or a run id under ``WORK/runs``) and check it is complete."""
    path = resolve_run_path(run, work)
    try:
        config = json.loads((path / "config.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        # Ids and labels verbatim ("0042" stays "0042", "NA" is a class name); only an empty cell is missing.
        id_column = str(config.get("id_column", DEFAULT_ID_COLUMN)) if isinstance(config, dict) else DEFAULT_ID_COLUMN
        text = {id_column: str, LABEL_COLUMN: str}
        val = pd.read_csv(path / "val_probs.csv", dtype=text, keep_default_na=False, na_values=[""])
        test = pd.read_csv(path / "test_probs.csv", dtype={id_column: str}, keep_default_na=False, na_values=[""])
    except (OSError, json.JSONDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CornkitError(f"Run {path} is incomplete or damaged ({error}); make it again.") from error
    if not isinstance(config, dict) or not isinstance(config.get("classes"), list):
        raise CornkitError(f"{path / 'config.json'} names no class list; the Run is damaged, make it again.")
    classes = tuple(config["classes"])
    for name, frame, needed in (
        ("val_probs.csv", val, [id_column, *classes, LABEL_COLUMN]),
        ("test_probs.csv", test, [id_column, *classes]),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise CornkitError(f"{path / name}: missing column(s) {missing}; the Run is damaged, make it again.")
        check_ids(frame, id_column, f"Run {path.name}, {path / name}", fix="The Run is damaged: make it again.")
        probability_table(frame, classes, f"Run {path.name}, {path / name}", fix="The Run is damaged: make it again.")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("val_accuracy"), (int, float)):
        raise CornkitError(f"Run {path.name}: {path / 'metrics.json'} has no val_accuracy; the Run is damaged or unfinished, make it again.")
    return Run(run_id=path.name, classes=classes, val=val, test=test, config=config, metrics=metrics, path=path)


def list_runs(work: str | Path) -> list[Run]:
    """Every readable Run under ``WORK/runs``, oldest first.

    A damaged Run (a hand-edited file, a copy cut short) is skipped with a warning on stderr,
    so one bad folder does not hide all the others.
    """
    runs_dir = Path(work) / RUNS_DIR
    if not runs_dir.is_dir():
        return []
    folders = sorted((p for p in runs_dir.iterdir() if (p / "config.json").is_file()), key=lambda p: p.stat().st_mtime)
    runs = []
    for folder in folders:
        try:
            runs.append(load_run(folder, work))
        except CornkitError as error:
            log.warning("skipping %s: %s", folder.name, error)
    return runs

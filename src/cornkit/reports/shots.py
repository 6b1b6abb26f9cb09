"""The few-shot curve on the user's own data: how many labelled images per class each head needs.

For each shot count k and repeat, k training rows per class are drawn (seeded, from the
split's training rows), every head on features is fitted on them, and all are scored on the
same, full validation split. The validation rows never change with k and never come out of
the k shots: carving validation out of the few shots (CLIP_benchmark issue #125) scores each
k on different, tiny validation sets, and the curve measures the split's noise instead.

Any registered head with ``fit`` takes part, with its declared defaults (as ``cornkit HEAD``
would run it), plus any parameters given per head.
Zero-shot uses no labels: it is fitted once and drawn as a flat line, the bar every other
head must clear. A head that cannot fit at some k (e.g. cross-validation folds needing more
rows than k) is skipped there, and the reason recorded.

This is a report, not a Run (no test probabilities), so it lives with ``dupes`` in
:mod:`cornkit.reports` and writes ``WORK/reports/shots-<hash>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, write_csv, write_json
from ..clip.model import ClipSpec
from ..data.dataset import Dataset
from ..data.split import Split
from ..defaults import DEFAULT_SEED, SHOTS_REPEATS
from ..errors import CornkitError
from ..heads.on_features import FeatureTask, Fitted, ZeroShotSource, class_indices
from ..heads.registry import Head, HeadContext, all_heads, get_head
from ..params import as_config
from ..plots import few_shot_png
from .folder import report_folder

if TYPE_CHECKING:
    from ..clip.text_classifier import ZeroShotClassifier

REFERENCE = "zeroshot"
"""The head every curve is compared with: it learns from no labels."""
ALL = "all"
Shot = int | str
"""A number of training rows per class, or ``"all"`` (every training row)."""
FitTask = Callable[[FeatureTask], Fitted]
COLUMNS = ("head", "shots", "repeat", "n_train", "n_val", "val_accuracy")


def feature_heads() -> list[str]:
    """Every registered head that fits on cached features, in rank order (the default ``--heads``)."""
    return [name for name, head in all_heads().items() if head.fit is not None]


def draw_shots(labels: np.ndarray, k: int, seed: int, repeat: int) -> np.ndarray:
    """Positions of ``k`` rows of every class of ``labels``, drawn without replacement; the same (seed, k, repeat) draws the same rows."""
    rng = np.random.default_rng([seed, k, repeat])
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False) for c in np.unique(labels)]))


@dataclass(frozen=True)
class ShotData:
    """The fixed inputs of a curve: the training rows to draw from and the validation rows every fit is scored on."""

    train_features: np.ndarray
    train_labels: np.ndarray
    val_features: np.ndarray
    val_labels: np.ndarray
    classes: tuple[str, ...]


def plan_shots(shots: Sequence[Shot], train_labels: np.ndarray, classes: Sequence[str]) -> tuple[list[Shot], list[str]]:
    """The shot counts that fit the training rows, and why the others were skipped."""
    counts = np.bincount(train_labels, minlength=len(classes))
    rarest = int(counts.argmin())
    kept: list[Shot] = []
    skipped = []
    for k in dict.fromkeys(shots):
        if k != ALL and int(k) > counts[rarest]:
            skipped.append(f"{k} shots: class {classes[rarest]!r} has only {counts[rarest]} training rows")
        else:
            kept.append(k)
    if not kept:
        raise CornkitError(f"--shots: every count exceeds the {counts[rarest]} training rows of class {classes[rarest]!r}; ask for fewer, or 'all'.")
    return kept, skipped


def few_shot_table(
    data: ShotData,
    fits: Mapping[str, FitTask],
    shots: Sequence[Shot],
    repeats: int,
    seed: int,
    zeroshot: Callable[[], ZeroShotClassifier],
) -> tuple[pd.DataFrame, list[str]]:
    """Validation accuracy of every head at every shot count and repeat, and what was skipped.

    Every fit is scored on the same validation rows, whatever k. The reference head (zero-shot),
    if among ``fits``, is fitted once on no training rows (``shots`` 0); ``"all"`` is fitted once,
    since every repeat would draw the same rows. ``zeroshot`` builds the text classifier for the
    heads that ask for it.
    """
    plan, skipped = plan_shots(shots, data.train_labels, data.classes)
    rows = []
    for name, fit in fits.items():
        if name == REFERENCE:
            task = FeatureTask(data.train_features[:0], data.train_labels[:0], data.classes, seed, zeroshot)
            rows.append(_row(name, 0, 0, task, fit(task), data))
            continue
        for k in plan:
            for repeat in range(1 if k == ALL else repeats):
                chosen = np.arange(len(data.train_labels)) if k == ALL else draw_shots(data.train_labels, int(k), seed, repeat)
                task = FeatureTask(data.train_features[chosen], data.train_labels[chosen], data.classes, seed, zeroshot)
                try:
                    rows.append(_row(name, k, repeat, task, fit(task), data))
                except CornkitError as error:
                    skipped.append(f"{name} at {k} shots: {error}")
                    break
    return pd.DataFrame(rows, columns=list(COLUMNS)), skipped


def _row(head: str, k: Shot, repeat: int, task: FeatureTask, fitted: Fitted, data: ShotData) -> dict[str, Any]:
    return {
        "head": head,
        "shots": str(k),
        "repeat": repeat,
        "n_train": len(task.train_labels),
        "n_val": len(data.val_labels),
        "val_accuracy": float((fitted.model.predict_proba(data.val_features).argmax(axis=1) == data.val_labels).mean()),
    }


def _curves(table: pd.DataFrame, n_classes: int) -> dict[str, pd.DataFrame]:
    """Per head (not the reference): shots, x position (labels per class; 'all' at its mean), mean and spread, in x order."""
    curves = {}
    for head, group in table[table["head"] != REFERENCE].groupby("head", sort=False):
        stats = group.groupby("shots", sort=False).agg(n_train=("n_train", "first"), mean=("val_accuracy", "mean"), spread=("val_accuracy", "std"))
        stats["x"] = [stats.loc[k, "n_train"] / n_classes if k == ALL else float(k) for k in stats.index]
        curves[str(head)] = stats.fillna({"spread": 0.0}).sort_values("x")
    return curves


def answer(table: pd.DataFrame, n_classes: int) -> str:
    """One line: the fewest labels per class with which each head's mean beats zero-shot."""
    reference = table.loc[table["head"] == REFERENCE, "val_accuracy"]
    if reference.empty:
        return "zero-shot was not scored, so there is nothing to beat."
    bar = float(reference.iloc[0])
    parts = []
    for head, stats in _curves(table, n_classes).items():
        beating = stats[stats["mean"] > bar]
        largest = stats.index[-1] if len(stats) else "any"
        parts.append(f"{head} {beating.index[0]}" if len(beating) else f"{head} not even with {largest}")
    return f"labels per class to beat zero-shot ({bar:.4f}), mean over repeats: {'; '.join(parts) or 'no head besides zero-shot was fitted'}."


def _plot(table: pd.DataFrame, classes: Sequence[str], path: Path, title: str) -> Path:
    curves = _curves(table, len(classes))
    reference = table.loc[table["head"] == REFERENCE, "val_accuracy"]
    ticks: dict[float, str] = {}
    for stats in curves.values():
        ticks.update({float(x): (f"all ({x:.0f})" if k == ALL else str(k)) for k, x in zip(stats.index, stats["x"], strict=True)})
    return few_shot_png(
        {head: (s["x"].to_numpy(), s["mean"].to_numpy(), s["spread"].to_numpy()) for head, s in curves.items()},
        float(reference.iloc[0]) if len(reference) else float("nan"),
        (sorted(ticks), [ticks[x] for x in sorted(ticks)]),
        path,
        title,
    )


@dataclass(frozen=True)
class ShotsReport:
    """The curve's table (``shots.csv``), what was skipped and why, the one-line answer, and where it was written."""

    table: pd.DataFrame
    skipped: list[str]
    answer: str
    folder: Path

    @property
    def csv_path(self) -> Path:
        return self.folder / "shots.csv"

    @property
    def png_path(self) -> Path:
        return self.folder / "shots.png"


def head_parameters(names: Sequence[str], shared: Mapping[str, Any], head_params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each head's parameters as ``run_head`` builds them: its defaults, the ``shared`` CLIP/prompt/seed values, its own ``head_params``."""
    unknown = sorted(set(head_params) - set(names))
    if unknown:
        raise CornkitError(f"--head-flags names {unknown[0]!r}, which is not among the heads fitted ({', '.join(names)}).")
    built = {}
    for name in names:
        head: Head = get_head(name)
        if head.fit is None:
            raise CornkitError(f"--heads {name}: {name} is not a head on CLIP features; choose from {', '.join(feature_heads())}.")
        built[name] = head.build_params(**shared, **head_params.get(name, {}))
    return built


def _bind(head: Head, params: Any) -> FitTask:
    assert head.fit is not None
    fit = head.fit
    return lambda task: fit(task, params)


def shots_report(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    spec: ClipSpec,
    *,
    heads: Sequence[str] | None = None,
    shots: Sequence[Shot] = (1, 2, 4, 8, 16, ALL),
    repeats: int = SHOTS_REPEATS,
    seed: int = DEFAULT_SEED,
    head_params: Mapping[str, Mapping[str, Any]] | None = None,
    **clip_options: Any,
) -> ShotsReport:
    """Fit ``heads`` (default: every head on features) at each shot count and write ``WORK/reports/shots-<hash>/``.

    The validation rows are those of fold 0 of ``split`` (the holdout rows of a holdout split).
    ``clip_options`` are ``prompts``, ``prompt_set``, ``device``, ``batch_size`` and ``workers``;
    ``head_params`` a head's own parameters by head name (``{"probe": {"cv_folds": 2}}``).
    """
    if repeats < 1:
        raise CornkitError(f"--repeats {repeats}: give at least 1.")
    names = list(dict.fromkeys([REFERENCE, *(heads if heads is not None else feature_heads())]))
    shared = {"model": spec.model, "pretrained": spec.pretrained, "flip_tta": spec.flip_tta, "seed": seed, **clip_options}
    built = head_parameters(names, shared, head_params or {})
    contexts = {name: HeadContext(dataset=dataset, split=split, work=Path(work), params=params) for name, params in built.items()}
    features = contexts[REFERENCE].features()
    zeroshot = ZeroShotSource(contexts[REFERENCE])
    classes = dataset.classes
    train_ids, valid_ids = split.train_ids(0), split.valid_ids(0)
    data = ShotData(
        train_features=features.rows("train", train_ids.tolist()),
        train_labels=class_indices(split.labels_of(train_ids), classes),
        val_features=features.rows("train", valid_ids.tolist()),
        val_labels=class_indices(split.labels_of(valid_ids), classes),
        classes=classes,
    )
    fits = {name: _bind(get_head(name), built[name]) for name in names}
    table, skipped = few_shot_table(data, fits, shots, repeats, seed, zeroshot)
    config = {
        "features": features.key,
        "clip": spec.identity(),
        "split_id": split.split_id,
        "fold": 0,
        "heads": {name: as_config(built[name], get_head(name).own_parameters()) for name in names},
        "shots": [str(k) for k in shots],
        "repeats": repeats,
        "seed": seed,
        "prompts": zeroshot.prompts_config,
    }
    folder = report_folder(work, "shots", config)
    line = answer(table, len(classes))
    with atomic_dir(folder) as tmp:
        write_csv(tmp / "shots.csv", table)
        title = f"few-shot curve, {spec.label}{' (RANDOM weights)' if spec.is_random else ''}, {len(valid_ids)} validation rows"
        _plot(table, classes, tmp / "shots.png", title)
        write_json(tmp / "shots.json", {**config, "skipped": skipped, "answer": line})
    return ShotsReport(table=table, skipped=skipped, answer=line, folder=folder)

"""A fastai fine-tune of a timm backbone (ConvNeXt by default) that ends in a Run.

This is the baseline the public solutions of It's Corn built on: ``vision_learner`` on a timm
model chosen by name, square pad-resize with a border that repeats the light background (a
kernel must not be squashed), flips and free rotation (a kernel has no up), mild lighting and
warp, ``fine_tune`` with the best epoch kept, and test-time augmentation for the validation
and test probabilities. It learns only from the rows the saved split marks as training and is
scored on its validation rows, so its validation accuracy is comparable with every other head's.

The best epoch (and early stopping) is chosen on a small stratified "monitor" part of those
training rows (``monitor_frac``, 10 % by default, at least one row per class), never on the
split's validation rows:
choosing on the rows that are then reported would flatter the validation accuracy, and make
it unfair next to the CLIP heads. ``monitor_frac=0`` trains on every training row and keeps
the last epoch.

``pretrained`` takes ``"hub"`` (timm weights from the Hugging Face hub), a path to a timm
checkpoint file (e.g. a Kaggle dataset attached to a kernel), or ``"none"`` (random weights,
for tests and the demo only). With a k-fold split and ``fold=None`` one model is trained per
fold: the validation probabilities are out-of-fold, the test probabilities their mean.

Training happens in a temporary folder inside the work folder; the Run folder is written
whole by :func:`~cornkit.runs.save_run` only after every fold finished, so an interrupted or
failed training leaves any earlier Run untouched and can simply be started again.
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # fastai.layers applies torch.jit.script at import, which this torch deprecates: noise the user cannot act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    import fastai.layers  # noqa: F401

import fastai.callback.channelslast  # noqa: F401  (adds Learner.to_channelslast)
import fastai.callback.data  # noqa: F401  (adds DataBlock.weighted_dataloaders)
import fastai.callback.fp16  # noqa: F401  (adds Learner.to_fp32)
import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle, fine_tune, lr_find)
import timm
import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.core import DataLoaders
from fastai.data.transforms import ColReader, ColSplitter, Normalize
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastai.vision.augment import PadMode, Resize, ResizeMethod, aug_transforms
from fastai.vision.data import ImageBlock
from fastai.vision.learner import Learner, vision_learner
from PIL import Image
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from .clip_model import checkpoint_identity, default_device
from .dataset import Dataset, check_image_readable
from .errors import CornkitError
from .hub import offline_error, require_hub
from .options import BALANCE_MODES, CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from .runs import Run, make_run, save_run
from .split import Split

APPROACH = "convnext"
TINY_ARCH = "convnext_atto"


@dataclass(frozen=True)
class ConvNextSettings:
    """Everything that decides the trained models; it becomes the Run's config (and id)."""

    arch: str = CONVNEXT_ARCH
    pretrained: str = TIMM_HUB
    epochs: int = 5
    freeze_epochs: int = 1
    size: int = 224
    batch_size: int = 32
    lr: float | None = None
    balance: str = "none"
    tta: bool = True
    seed: int = 42
    fold: int | None = None
    patience: int | None = None
    monitor_frac: float = 0.1
    max_lighting: float = 0.1
    max_warp: float = 0.1

    @property
    def is_random(self) -> bool:
        return self.pretrained.lower() == RANDOM_WEIGHTS

    @property
    def is_hub(self) -> bool:
        return self.pretrained.lower() == TIMM_HUB

    def weights_identity(self) -> Any:
        """``hub``, ``none`` or the identity of the checkpoint file (so a new file is a new Run)."""
        if self.is_random or self.is_hub:
            return self.pretrained.lower()
        return checkpoint_identity(Path(self.pretrained))


def check_arch(arch: str) -> None:
    """Refuse a name timm does not know (or an unknown pretrained tag), listing close names."""
    known = arch in timm.list_pretrained() if "." in arch else timm.is_model(arch)
    if known:
        return
    names = timm.list_models() + timm.list_pretrained()
    close = difflib.get_close_matches(arch, names, n=8, cutoff=0.5)
    raise CornkitError(
        f"--arch {arch!r} is not a timm model{' with that pretrained tag' if timm.is_model(arch) else ''}. "
        f"Close names: {', '.join(close) or 'none'}. "
        "`python -c \"import timm; print(timm.list_pretrained('convnext*'))\"` lists them."
    )


def check_settings(settings: ConvNextSettings) -> None:
    """Fail on bad flags before any image is read or any weight is loaded."""
    check_arch(settings.arch)
    if settings.balance not in BALANCE_MODES:
        raise CornkitError(f"--balance {settings.balance!r}: choose one of {', '.join(BALANCE_MODES)}.")
    for flag, value in (("--epochs", settings.epochs), ("--size", settings.size), ("--batch-size", settings.batch_size)):
        if value < 1:
            raise CornkitError(f"{flag} {value}: must be at least 1.")
    if not 0 <= settings.monitor_frac < 0.5:
        raise CornkitError(f"--monitor-frac {settings.monitor_frac}: give a share of the training rows from 0 up to 0.5, e.g. 0.1.")
    if settings.patience is not None and settings.monitor_frac == 0:
        raise CornkitError("--patience needs monitor rows to watch: give --monitor-frac above 0 (e.g. 0.1), or leave --patience out.")
    if not (settings.is_random or settings.is_hub or Path(settings.pretrained).is_file()):
        raise CornkitError(
            f"--pretrained {settings.pretrained}: no such checkpoint file. Give 'hub' (download from the Hugging Face hub), "
            "a path to a timm checkpoint file for this --arch, or 'none' for random weights."
        )


def fold_frame(dataset: Dataset, split: Split, fold: int) -> pd.DataFrame:
    """Image path, label, id and ``is_valid`` of every row a model for ``fold`` is trained or scored on, training rows first."""
    cfg = dataset.config
    train = dataset.train.set_index(cfg.id_column)
    parts = []
    for ids, is_valid in ((split.train_ids(fold), False), (split.valid_ids(fold), True)):
        missing = sorted(set(ids) - set(train.index))
        if missing:
            raise CornkitError(f"the split lists id {missing[0]}, which is not in {dataset.root / 'train.csv'}; re-run `cornkit split --force`.")
        rows = train.loc[ids]
        parts.append(
            pd.DataFrame(
                {
                    "seed_id": np.asarray(ids, dtype=np.int64),
                    "path": [str(dataset.root / p) for p in rows[cfg.image_column]],
                    "label": rows[cfg.label_column].astype(str).to_numpy(),
                    "is_valid": is_valid,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def mark_monitor_rows(train: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """The training rows with ``is_valid`` set on a stratified ``fraction`` of them: fastai's validation set.

    fastai picks the best epoch and stops early on its validation set, so that set is carved
    from the training rows; the split's validation rows stay unseen until the final prediction.
    """
    train = train.assign(is_valid=False).reset_index(drop=True)
    if fraction == 0:
        return train
    labels = train["label"]
    counts = labels.value_counts()
    n_monitor = max(len(counts), round(fraction * len(train)))
    if counts.min() < 2 or len(train) - n_monitor < len(counts):
        raise CornkitError(
            f"--monitor-frac {fraction}: {len(train)} training rows (class {counts.idxmin()!r}: {counts.min()}) are too few to hold "
            f"{n_monitor} of them out for choosing the epoch and still train on every class. Give --monitor-frac 0."
        )
    _, monitor = train_test_split(np.arange(len(train)), test_size=n_monitor, stratify=labels, random_state=seed)
    train.loc[monitor, "is_valid"] = True
    return train


def class_weights(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Inverse class frequency, normalised so a balanced set gets weight 1 per class."""
    counts = pd.Series(list(labels)).value_counts().reindex(list(classes), fill_value=0).to_numpy(dtype=np.float64)
    return len(labels) / (len(classes) * np.maximum(counts, 1))


def _input_stats(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The backbone's input mean and std; random weights are normalised too, which speeds training."""
    cfg = timm.get_pretrained_cfg(arch)
    return tuple(cfg.mean), tuple(cfg.std)


class ReadImage:
    """fastai's ``get_x``: a row's decoded image, or a CornkitError naming the broken file."""

    def __call__(self, row: pd.Series) -> Image.Image:
        return check_image_readable(Path(row["path"]), f"image of seed_id {row.get('seed_id', '?')}")


def make_dataloaders(frame: pd.DataFrame, classes: Sequence[str], settings: ConvNextSettings, device: torch.device) -> DataLoaders:
    """fastai DataLoaders: pad-resize with the background's border, flips, free rotation, mild lighting/warp."""
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=list(classes))),
        get_x=ReadImage(),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
        item_tfms=Resize(settings.size, method=ResizeMethod.Pad, pad_mode=PadMode.Border),
        batch_tfms=aug_transforms(
            flip_vert=True,
            max_rotate=180.0,
            max_lighting=settings.max_lighting,
            max_warp=settings.max_warp,
            pad_mode=PadMode.Border,
        )
        + [Normalize.from_stats(*_input_stats(settings.arch))],
    )
    # Worker processes only pay off feeding a GPU; in-process loading keeps CPU runs reproducible.
    workers = 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)
    options: dict[str, Any] = {"bs": settings.batch_size, "device": device, "num_workers": workers}
    if settings.balance == "oversample":
        train_labels = frame.loc[~frame["is_valid"], "label"]
        per_class = dict(zip(classes, class_weights(train_labels, classes)))
        weights = frame["label"].map(per_class).to_numpy(dtype=np.float64)
        return block.weighted_dataloaders(frame, wgts=weights, **options)
    return block.dataloaders(frame, **options)


def _load_error_hint(settings: ConvNextSettings) -> str:
    return (
        f"Pass a local timm checkpoint instead: --pretrained /path/to/model.safetensors (from the hub repo timm/{settings.arch}; "
        "on Kaggle attach it as a dataset or model and point at the file under /kaggle/input), or --pretrained none for random weights."
    )


def make_learner(dls: DataLoaders, settings: ConvNextSettings, train_labels: Sequence[str], classes: Sequence[str], path: Path) -> Learner:
    """``vision_learner`` on the timm backbone, weights from the hub, a checkpoint file or nowhere."""
    model_args: dict[str, Any] = {}
    if not settings.is_random and not settings.is_hub:
        model_args["pretrained_cfg_overlay"] = {"file": str(Path(settings.pretrained).resolve())}
    loss = None
    if settings.balance == "weighted":
        weight = torch.tensor(class_weights(train_labels, classes), dtype=torch.float32, device=dls.device)
        loss = CrossEntropyLossFlat(weight=weight)
    try:
        return vision_learner(
            dls, settings.arch, pretrained=not settings.is_random, loss_func=loss, metrics=accuracy, path=path, **model_args
        )
    except (OSError, RuntimeError, ValueError) as error:
        if not settings.is_random and not settings.is_hub:
            raise CornkitError(f"--pretrained {settings.pretrained}: not a timm checkpoint for {settings.arch} ({error}).") from error
        if settings.is_hub:
            raise offline_error(f"timm weights of {settings.arch}", _load_error_hint(settings), error) from error
        raise


class SkipValidation(Callback):
    """Without monitor rows there is nothing to validate on: skip fastai's (empty) validation pass."""

    def before_fit(self) -> None:
        self.learn.recorder.valid_metrics = False  # no empty validation columns in the progress table

    def before_validate(self) -> None:
        raise CancelValidException()


def _fit(learn: Learner, settings: ConvNextSettings, extra_cbs: Sequence[Callback]) -> tuple[float, float | None]:
    """Find (or take) the learning rate and train; with monitor rows, keep the epoch that did best on them.

    Returns the learning rate and the monitor accuracy of the kept epoch (None without monitor rows).
    """
    lr = settings.lr if settings.lr is not None else float(learn.lr_find(show_plot=False).valley)
    cbs: list[Callback] = list(extra_cbs)
    tracker = None
    if settings.monitor_frac == 0:
        cbs.append(SkipValidation())
    else:
        tracker = SaveModelCallback(monitor="accuracy", fname="best", reset_on_fit=False)
        cbs.insert(0, tracker)
        if settings.patience is not None:
            cbs.append(EarlyStoppingCallback(monitor="accuracy", patience=settings.patience, reset_on_fit=False))
    if settings.is_random:
        # Random weights have nothing worth keeping frozen: train everything from the start.
        learn.fit_one_cycle(settings.epochs, lr, cbs=cbs)
    else:
        learn.fine_tune(settings.epochs, base_lr=lr, freeze_epochs=settings.freeze_epochs, cbs=cbs)
    return lr, None if tracker is None else float(tracker.best)


def _predict(learn: Learner, frame: pd.DataFrame, use_tta: bool) -> np.ndarray:
    """Probabilities of the rows of ``frame`` (unseen in training), averaged over augmented copies when ``use_tta``."""
    dl = learn.dls.test_dl(frame)
    probs, _ = learn.tta(dl=dl) if use_tta else learn.get_preds(dl=dl)
    return probs.float().numpy()


@dataclass
class FoldResult:
    """One trained fold: its validation rows and probabilities, its test probabilities, its learner file."""

    val_ids: np.ndarray
    val_labels: np.ndarray
    val_probs: np.ndarray
    test_probs: np.ndarray
    learner_file: Path
    lr: float
    monitor_accuracy: float | None


def _oom_error(settings: ConvNextSettings, error: BaseException) -> CornkitError:
    smaller = max(1, settings.batch_size // 2)
    return CornkitError(
        f"the GPU ran out of memory training {settings.arch} at --batch-size {settings.batch_size} --size {settings.size} "
        f"({str(error).splitlines()[0]}). Try --batch-size {smaller} (or a smaller --size or --arch)."
    )


def train_fold(
    dataset: Dataset,
    split: Split,
    fold: int,
    settings: ConvNextSettings,
    scratch: Path,
    device: torch.device,
    extra_cbs: Sequence[Callback] = (),
) -> FoldResult:
    """Train one model on the training rows of ``fold`` and predict its validation rows and the test set."""
    set_seed(settings.seed, reproducible=True)
    frame = fold_frame(dataset, split, fold)
    valid = frame[frame["is_valid"]]
    fit_rows = mark_monitor_rows(frame[~frame["is_valid"]], settings.monitor_frac, settings.seed)
    test_frame = pd.DataFrame({"seed_id": dataset.ids("test"), "path": [str(p) for p in dataset.image_paths("test")]})
    train_labels = fit_rows.loc[~fit_rows["is_valid"], "label"].tolist()
    folder = scratch / f"fold{fold}"
    try:
        dls = make_dataloaders(fit_rows, dataset.classes, settings, device)
        learn = make_learner(dls, settings, train_labels, dataset.classes, folder)
        if device.type == "cuda":
            learn.to_channelslast()
        lr, monitor_accuracy = _fit(learn, settings, extra_cbs)
        val_probs = _predict(learn, valid, settings.tta)
        test_probs = _predict(learn, test_frame, settings.tta)
    except torch.cuda.OutOfMemoryError as error:
        raise _oom_error(settings, error) from error
    if device.type == "cuda":
        learn.to_fp32()
    learner_file = folder / f"learner-fold{fold}.pkl"
    folder.mkdir(parents=True, exist_ok=True)
    learn.export(learner_file)
    return FoldResult(
        val_ids=valid["seed_id"].to_numpy(),
        val_labels=valid["label"].to_numpy(),
        val_probs=val_probs,
        test_probs=test_probs,
        learner_file=learner_file,
        lr=lr,
        monitor_accuracy=monitor_accuracy,
    )


def check_late_images(dataset: Dataset, split: Split) -> None:
    """Decode every image training reads only at its end, so a broken one fails now, not hours later.

    Training rows are read in the first epoch anyway; the split's validation rows and the test
    images are first opened when the trained model predicts them.
    """
    train_paths = dict(zip(dataset.ids("train"), dataset.image_paths("train")))
    late = [(int(i), train_paths[int(i)]) for i in split.evaluation_ids()] + list(zip(dataset.ids("test"), dataset.image_paths("test")))
    for seed_id, path in tqdm(late, desc="checking validation and test images", unit="img"):
        check_image_readable(path, f"image of seed_id {seed_id}")


def folds_to_train(split: Split, fold: int | None) -> list[int]:
    """Every fold of the split, or the one asked for (refused if the split has no such fold)."""
    if fold is None:
        return list(range(split.n_folds))
    if not 0 <= fold < split.n_folds:
        raise CornkitError(f"--fold {fold}: this split has folds 0..{split.n_folds - 1}; leave --fold out to train them all.")
    return [fold]


def _announce_weights(settings: ConvNextSettings) -> None:
    """Flag random weights loudly; fail fast when hub weights cannot be fetched."""
    if settings.is_random:
        print(
            f"WARNING: {settings.arch} has RANDOM weights (--pretrained none): fine for tests and the demo, "
            "far below a pretrained backbone for a submission.",
            file=sys.stderr,
        )
    elif settings.is_hub:
        require_hub(f"timm weights of {settings.arch}", _load_error_hint(settings))


def _run_from_folds(dataset: Dataset, split: Split, settings: ConvNextSettings, folds: list[FoldResult]) -> Run:
    """Out-of-fold validation probabilities (in split order) and the mean test probabilities."""
    val_ids = np.concatenate([f.val_ids for f in folds])
    in_split_order = split.frame.loc[split.frame["seed_id"].isin(val_ids), "seed_id"]
    position = pd.Index(val_ids).get_indexer(in_split_order)
    config = {"split_id": split.split_id, "pretrained": settings.weights_identity(), **_settings_config(settings)}
    return make_run(
        approach=APPROACH,
        model=settings.arch,
        classes=dataset.classes,
        val_ids=val_ids[position],
        val_labels=np.concatenate([f.val_labels for f in folds])[position],
        val_probs=np.concatenate([f.val_probs for f in folds])[position],
        test_ids=dataset.ids("test"),
        test_probs=np.mean([f.test_probs for f in folds], axis=0),
        config=config,
    )


def _settings_config(settings: ConvNextSettings) -> dict[str, Any]:
    config = asdict(settings)
    config.pop("pretrained")
    return config


def train_convnext(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    *,
    arch: str = CONVNEXT_ARCH,
    pretrained: str | Path = TIMM_HUB,
    epochs: int = 5,
    freeze_epochs: int = 1,
    size: int = 224,
    batch_size: int = 32,
    lr: float | None = None,
    balance: str = "none",
    tta: bool = True,
    seed: int = 42,
    fold: int | None = None,
    patience: int | None = None,
    monitor_frac: float = 0.1,
    max_lighting: float = 0.1,
    max_warp: float = 0.1,
    device: str | torch.device | None = None,
    cbs: Sequence[Callback] = (),
) -> Run:
    """Fine-tune ``arch`` on the split's training rows and save a Run with its exported learner(s).

    ``lr=None`` runs fastai's ``lr_find`` (its "valley" suggestion). ``fold=None`` trains every
    fold of a k-fold split (one model each); ``fold=k`` only that fold. ``balance`` is
    ``"oversample"`` (sample training rows by inverse class frequency), ``"weighted"`` (weight
    the loss the same way) or ``"none"``. ``monitor_frac`` of the training rows pick the best
    epoch (0: train on all of them, keep the last epoch); ``patience`` adds early stopping on
    their accuracy. ``cbs`` are extra fastai callbacks (loggers, say) for the training.
    """
    settings = ConvNextSettings(
        arch=arch, pretrained=str(pretrained), epochs=epochs, freeze_epochs=freeze_epochs, size=size, batch_size=batch_size,
        lr=lr, balance=balance, tta=tta, seed=seed, fold=fold, patience=patience, monitor_frac=monitor_frac,
        max_lighting=max_lighting, max_warp=max_warp,
    )
    check_settings(settings)
    folds = folds_to_train(split, fold)
    _announce_weights(settings)
    check_late_images(dataset, split)
    device = torch.device(device) if device is not None else default_device()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".convnext-", dir=work) as scratch:
        # Absolute: fastai joins the learner's own path with export and checkpoint names.
        results = [train_fold(dataset, split, k, settings, Path(scratch).resolve(), device, cbs) for k in folds]
        run = _run_from_folds(dataset, split, settings, results)
        run.metrics["lr"] = [r.lr for r in results]
        run.metrics["monitor_accuracy"] = [r.monitor_accuracy for r in results]

        def write_learners(folder: Path) -> None:
            for result in results:
                shutil.move(result.learner_file, folder / result.learner_file.name)

        save_run(run, work, write_artifacts=write_learners)
    return run


def train_tiny_convnext(dataset: Dataset, split: Split, work: str | Path, *, epochs: int = 4, seed: int = 42) -> Run:
    """The demo's ConvNeXt: random ``convnext_atto`` at 64 pixels, a few epochs, minutes on a CPU."""
    return train_convnext(
        dataset, split, work, arch=TINY_ARCH, pretrained=RANDOM_WEIGHTS, epochs=epochs, size=64, batch_size=16, lr=2e-3, seed=seed
    )

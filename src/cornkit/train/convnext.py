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

import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from fastai.callback.core import Callback

from ..atomic import scratch_dir
from ..clip.model import default_device
from ..data.dataset import Dataset
from ..data.split import Split
from ..defaults import CONVNEXT_ARCH, TIMM_HUB
from ..runs.run import Run, save_run
from .folds import check_late_images, folds_to_train, run_from_folds, train_fold
from .learner import announce_weights
from .settings import ConvNextSettings, check_settings


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
    announce_weights(settings)
    check_late_images(dataset, split)
    device = torch.device(device) if device is not None else default_device()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    with scratch_dir(work, ".convnext-") as scratch:
        # Absolute: fastai joins the learner's own path with export and checkpoint names.
        results = [train_fold(dataset, split, k, settings, Path(scratch).resolve(), device, cbs) for k in folds]
        run = run_from_folds(dataset, split, settings, results)
        run.metrics["lr"] = [r.lr for r in results]
        run.metrics["monitor_accuracy"] = [r.monitor_accuracy for r in results]

        def write_learners(folder: Path) -> None:
            for result in results:
                shutil.move(result.learner_file, folder / result.learner_file.name)

        save_run(run, work, write_artifacts=write_learners)
    return run

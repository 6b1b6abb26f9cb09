"""Fine-tune any backbone (a timm model or a CLIP image tower) on the split and save a Run.

This is the recipe the public solutions of It's Corn built on, generalised: a fastai Learner
on the backbone, square pad-resize with a border that repeats the light background (a kernel
must not be squashed), flips and free rotation (a kernel has no up), mild lighting and warp;
then the recipe of :class:`~cornkit.train.settings.FinetuneSettings` (head-only epochs, then
everything with discriminative and layer-wise decayed learning rates, mixup/cutmix, label
smoothing, EMA, gradient accumulation, stochastic depth), the best epoch kept, and
test-time augmentation for the validation and test probabilities. A CLIP tower starts from
the zero-shot head and may be interpolated back towards it (WiSE-FT). It learns only from the
rows the saved split marks as training and is scored on its validation rows, so its
validation accuracy is comparable with every other head's.

The best epoch (and early stopping, and WiSE-FT's α) is chosen on a small stratified
"monitor" part of those training rows (``monitor_frac``, 10 % by default, at least one row
per class), never on the split's validation rows: choosing on the rows that are then reported
would flatter the validation accuracy. ``monitor_frac=0`` trains on every training row and
keeps the last epoch. With a k-fold split and ``fold=None`` one model is trained per fold: the
validation probabilities are out-of-fold, the test probabilities their mean.

Training happens in a temporary folder inside the work folder; the Run folder is written whole
by :func:`~cornkit.runs.save_run` only after every fold finished, so an interrupted or failed
training leaves any earlier Run untouched and can simply be started again.

Under a launch (``--gpus``/``--processes``, or torchrun) every rank trains each fold on its
share of every batch (DDP, :mod:`.ranks`), predictions are gathered in the split's row order,
and rank 0 alone exports and writes the Run. ``--batch-size`` is per process: the Run's config
records ``processes`` and the ``global_batch_size`` they add up to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastai.callback.core import Callback

from .. import distributed
from ..atomic import SCRATCH_PREFIX, scratch_dir
from ..clip.model import default_device
from ..data.dataset import Dataset
from ..data.image_store import store_root as image_store_root
from ..data.split import Split
from ..plots import wise_png
from ..runs.folds import FoldOutput, run_from_folds
from ..runs.model import RunModel
from ..runs.run import Run, save_run
from .backbone import announce_weights
from .folds import FoldResult, check_images, folds_to_train, late_images, train_fold
from .ranks import FoldJob, check_images_on_every_rank
from .settings import FinetuneSettings, check_settings

APPROACH = "finetune"


def learner_details(settings: FinetuneSettings, results: Sequence[FoldResult]) -> dict[str, Any]:
    """What ``cornkit predict`` needs: each fold's saved network (safetensors weights and JSON config, :mod:`.saved_network`)
    in fold order, TTA, batch size, seed, a CLIP tower's open_clip preprocessing and the image store the Run read.

    ``learners`` names fastai's exported learners, only with ``export_learner`` (predict never loads them).
    """
    details: dict[str, Any] = {
        "networks": [{"weights": r.network_files[0].name, "config": r.network_files[1].name} for r in results],
        "tta": settings.tta,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "clip_preprocess": results[0].clip_preprocess,
        "image_store": results[0].image_store,
    }
    learners = [r.learner_file.name for r in results if r.learner_file is not None]
    if learners:
        details["learners"] = learners
    return details


def train_finetune(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    settings: FinetuneSettings,
    *,
    approach: str = APPROACH,
    device: str | torch.device | None = None,
    cbs: Sequence[Callback] = (),
) -> Run:
    """Fine-tune ``settings.backbone`` on the split's training rows and save a Run with its exported learner(s).

    ``settings.lr=None`` runs fastai's ``lr_find`` (its "valley" suggestion). ``cbs`` are extra
    fastai callbacks (loggers, say) for the training; ``approach`` names the Run's approach;
    ``device`` overrides ``settings.device``.
    """
    check_settings(settings)
    device = device if device is not None else settings.device
    folds = folds_to_train(split, settings.fold)
    announce_weights(settings)
    world = distributed.world_size()
    work = Path(work)
    store_root = image_store_root(settings.image_store, work)
    if distributed.launched():  # the ranks agree on a broken image before any of them builds a store
        check_images_on_every_rank(dataset)
    elif store_root is None:  # (building the image store decodes every image before training, naming a broken one)
        check_images(late_images(dataset, split), dataset.id_column, "checking validation and test images")
    device = torch.device(device) if device is not None else default_device()
    work.mkdir(parents=True, exist_ok=True)
    with scratch_dir(work, f".{SCRATCH_PREFIX}{approach}-") as scratch:
        # Absolute (fastai joins the learner's own path with export and checkpoint names), and shared by the ranks.
        folder = Path(scratch).resolve()

        def train(fold: int) -> FoldResult:
            if not distributed.launched():
                return train_fold(dataset, split, fold, settings, folder, device, cbs, store_root)
            return distributed.run_everywhere(FoldJob(dataset, split, fold, settings, folder, device.type, store_root), cbs)

        results = [train(k) for k in folds]
        config = settings.run_config()
        config["processes"] = world
        config["global_batch_size"] = settings.batch_size * settings.accum * world
        # The store pads to 8/7 of the size and the device resamples without antialiasing: another input, another Run.
        config["images_from"] = "files" if results[0].image_store is None else "store"
        if settings.is_clip:
            from ..clip.prompts import load_prompt_file

            prompts = load_prompt_file(Path(settings.prompts) if settings.prompts else None, dataset.classes).get(settings.prompt_set)
            config["prompts"] = prompts.as_config()
        outputs = [FoldOutput(r.val_ids, r.val_probs, r.test_probs, {"lr": r.lr, f"monitor_{split.metric}": r.monitor_score}) for r in results]
        run = run_from_folds(
            approach=approach,
            model=settings.model_label,
            classes=dataset.classes,
            split=split,
            outputs=outputs,
            test_ids=np.asarray(dataset.ids("test")),
            config=config,
            seed=settings.seed,
        )
        run.metrics["image_store"] = results[0].image_store
        curves = [r.wise for r in results if r.wise is not None]
        if curves:
            run.metrics["wise"] = curves
        run.fitted = RunModel(kind="learners", details=learner_details(settings, results), files={f.name: f for r in results for f in r.model_files})

        def write_artifacts(folder: Path) -> None:
            if curves and "alphas" in curves[0]:
                wise_png(curves, folder / "wise.png")

        save_run(run, work, write_artifacts=write_artifacts)
    return run

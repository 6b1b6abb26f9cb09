"""``cornkit finetune``: any timm model or a CLIP image tower, the recipe flags doing what they say, WiSE-FT, plain progress.

Everything runs offline on the CPU on a small synthetic set: a random-weight ``resnet18`` at
32 pixels and the kit's tiny random-weight CLIP model at its 64 pixels, one or two epochs.
Each recipe flag is checked by what it does to training (a recording callback), not only by
its place in the config, so a flag that is silently ignored fails a test.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from fastai.callback.core import Callback
from safetensors.torch import load_file
from timm.layers import DropPath

from cornkit.cli import main
from cornkit.clip.model import TINY_MODEL
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.split import Split, make_split
from cornkit.data.synth import make_synthetic_corn
from cornkit.errors import CornkitError
from cornkit.heads.registry import run_head
from cornkit.kaggle.kernels import KernelSpec, build_kernel
from cornkit.train.backbone import make_backbone
from cornkit.train.finetune import train_finetune
from cornkit.train.progress import epoch_line
from cornkit.train.recipe import EMA_ORDER, ExponentialMovingAverage, MixupCutmix, RecipeLoss
from cornkit.train.saved_network import run_fold_learner
from cornkit.train.settings import FinetuneSettings
from cornkit.train.wise import sweep_alpha

pytestmark = pytest.mark.slow  # trains backbones and CLIP towers

RESNET = {"backbone": "timm:resnet18", "pretrained": "none", "size": 32, "batch_size": 16, "lr": 2e-3, "tta": False}
CLIP = {"backbone": f"clip:{TINY_MODEL}", "pretrained": "none", "batch_size": 16, "lr": 1e-3, "tta": False}


@pytest.fixture(scope="module")
def corn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_corn(tmp_path_factory.mktemp("corn"), n_train=96, n_test=16, seed=3).root


@pytest.fixture(scope="module")
def dataset(corn: Path) -> Dataset:
    return load_dataset(corn)


@pytest.fixture(scope="module")
def holdout(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Split, Path]:
    work = tmp_path_factory.mktemp("work")
    return make_split(dataset, work), work


class RecordTraining(Callback):
    """Notes what the optimizer and the loss saw: targets, images before/after mixing, lrs per group, steps, frozen params."""

    order = MixupCutmix.order + 1  # after the mixing

    def __init__(self) -> None:
        self.targets: list[torch.Tensor] = []
        self.lrs: list[list[float]] = []
        self.moms: list[float] = []
        self.batches = self.steps = 0
        self.trainable_per_fit: list[int] = []

    def before_fit(self) -> None:
        self.trainable_per_fit.append(sum(p.requires_grad for p in self.learn.model.parameters()))

    def before_batch(self) -> None:
        if self.training:
            self.targets.append(self.yb[0].detach().clone())

    def after_batch(self) -> None:
        if self.training:
            self.batches += 1
            self.lrs.append([float(h["lr"]) for h in self.opt.hypers])
            self.moms.append(float(self.opt.hypers[-1]["mom"]))

    def after_step(self) -> None:
        self.steps += 1


class RecordRawAndEma(Callback):
    """The raw weights after the last optimizer step, and the EMA's weights once training ended."""

    order = EMA_ORDER + 1

    def __init__(self) -> None:
        self.raw: dict[str, torch.Tensor] = {}
        self.ema: dict[str, torch.Tensor] = {}

    def after_step(self) -> None:
        self.raw = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}

    def after_fit(self) -> None:
        ema = next(cb for cb in self.learn.cbs if isinstance(cb, ExponentialMovingAverage))
        assert ema.ema is not None
        self.ema = {k: v.detach().clone() for k, v in ema.ema.module.state_dict().items()}


def test_every_recipe_flag_reaches_training(dataset, holdout):
    split, work = holdout
    seen, weights = RecordTraining(), RecordRawAndEma()
    settings = FinetuneSettings(
        **RESNET,
        epochs=1,
        lp_epochs=1,
        mixup=0.4,
        cutmix=1.0,
        mix_prob=1.0,
        label_smoothing=0.2,
        ema=0.9,
        llrd=0.5,
        body_lr_mult=0.5,
        accum=2,
        drop_path=0.2,
        schedule="cosine",
        warmup=0.2,
        monitor_frac=0,
    )
    run = train_finetune(dataset, split, work, settings, cbs=[seen, weights])
    assert run.approach == "finetune" and run.model == "resnet18"
    for flag in ("mixup", "cutmix", "mix_prob", "label_smoothing", "ema", "llrd", "body_lr_mult", "accum", "drop_path", "schedule", "warmup", "lp_epochs"):
        assert run.config[flag] == getattr(settings, flag)
    # mixup/cutmix: every training batch has soft targets, mixed (no row one-hot) and smoothed (no class below ε/4)
    assert all(t.is_floating_point() and t.shape[1] == 4 for t in seen.targets)
    assert all((t.max(dim=1).values < 1 - 0.2 + 0.2 / 4 + 1e-6).all() and (t.min() >= 0.2 / 4 - 1e-6) for t in seen.targets)
    # lp phase: only the head trains; then everything
    head_params = 2  # resnet18's fc weight and bias
    assert seen.trainable_per_fit[0] < seen.trainable_per_fit[1] and seen.trainable_per_fit[0] >= head_params
    # llrd and the body multiplier: the top block trains at 0.5 (body) x 0.5 (one layer down) of the head's rate, each block below at half the one above
    peak = np.max(np.array(seen.lrs), axis=0)
    ratios = peak / peak[-1]
    assert ratios[-2] == pytest.approx(0.25, rel=1e-3) and len(ratios) > 3
    np.testing.assert_allclose(ratios[:-1][1:] / ratios[:-1][:-1], 2.0, rtol=1e-3)
    # cosine with warmup: starts at peak/25, falls at the end, no momentum cycling (fastai's one-cycle would cycle it)
    assert seen.lrs[0][-1] == pytest.approx(settings.lr / 25, rel=1e-3) and seen.lrs[-1][-1] < seen.lrs[-2][-1]
    assert len(set(seen.moms)) == 1
    # accumulation: one optimizer step per two batches
    assert seen.steps == seen.batches // 2
    # drop path in the exported model
    by_id = dict(zip(dataset.ids("train"), dataset.image_paths("train"), strict=False))
    rows = pd.DataFrame({"id": run.val["seed_id"], "path": [str(by_id[i]) for i in run.val["seed_id"]]})
    learn = run_fold_learner(run.path, 0, rows)
    assert max(m.drop_prob for m in learn.model.modules() if isinstance(m, DropPath)) == pytest.approx(0.2)
    # EMA: its weights differ from the raw ones and are the ones exported
    exported = learn.model.state_dict()
    floats = [k for k, v in weights.ema.items() if v.is_floating_point()]
    assert all(torch.allclose(exported[k], weights.ema[k]) for k in floats)
    assert any(not torch.allclose(weights.raw[k], weights.ema[k], atol=1e-4) for k in floats)
    # ... and the ones evaluated: the saved network gives the Run's validation probabilities
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
    np.testing.assert_allclose(probs.numpy(), run.val_probs, atol=1e-5)


def test_label_smoothing_changes_the_loss():
    confident = torch.tensor([[20.0, -20.0, -20.0, -20.0]])
    assert RecipeLoss(label_smoothing=0.2)(confident, torch.tensor([0])) > 1.0 > RecipeLoss()(confident, torch.tensor([0])) + 0.9


def test_the_clip_tower_starts_as_the_zero_shot_head(dataset, holdout):
    """--wise 0 is the zero-shot model: same model, prompts and preprocessing give the zero-shot Run's classes."""
    split, work = holdout
    zeroshot = run_head("zeroshot", dataset, split, work, model=TINY_MODEL, pretrained="none", workers=0)
    tuned = run_head(
        "finetune",
        dataset,
        split,
        work,
        backbone=f"clip:{TINY_MODEL}",
        pretrained="none",
        epochs=1,
        lp_epochs="0",
        lr=1e-3,
        batch_size=16,
        wise="0",
        tta=False,
    )
    for a, b in ((zeroshot.val_probs, tuned.val_probs), (zeroshot.test_probs, tuned.test_probs)):
        assert (a.argmax(axis=1) == b.argmax(axis=1)).mean() >= 0.99
    assert tuned.config["prompts"] == zeroshot.config["prompts"] and tuned.metrics["wise"] == [{"alpha": 0.0}]


def test_lp_ft_with_wise_auto_sweeps_alpha_on_monitor_rows(dataset, holdout):
    split, work = holdout
    seen = RecordTraining()
    settings = FinetuneSettings(**CLIP, epochs=1, lp_epochs=1, wise="auto", llrd=0.7, drop_path=0.1, ema=0.9)
    untrained = make_backbone(settings, dataset.classes).model
    run = train_finetune(dataset, split, work, settings, cbs=[seen])
    curve = run.metrics["wise"][0]
    assert curve["alphas"] == [round(0.1 * k, 1) for k in range(11)] and len(curve["monitor_accuracy"]) == 11
    assert curve["alpha"] == curve["alphas"][int(np.argmax(curve["monitor_accuracy"]))]
    assert (run.path / "wise.png").stat().st_size > 1000
    assert seen.trainable_per_fit[0] == 1  # LP: the zero-shot head alone
    assert seen.targets and all(not t.is_floating_point() for t in seen.targets)  # no mixup asked, none done
    exported = load_file(run.path / "network-fold0.safetensors")
    start = untrained.state_dict()
    if curve["alpha"] == 0:
        assert torch.allclose(exported["head.weight"], start["head.weight"])
    else:
        assert not torch.allclose(exported["head.weight"], start["head.weight"])


def test_recipe_mistakes_are_refused_before_training(dataset, holdout, corn, capsys):
    split, work = holdout
    with pytest.raises(CornkitError, match=r"--wise.*clip:MODEL"):
        train_finetune(dataset, split, work, FinetuneSettings(**RESNET, wise="auto"))
    with pytest.raises(CornkitError, match="even batch size"):
        train_finetune(dataset, split, work, FinetuneSettings(**{**RESNET, "batch_size": 15}, mixup=0.2))
    with pytest.raises(CornkitError, match="--wise auto chooses α on the monitor rows"):
        train_finetune(dataset, split, work, FinetuneSettings(**CLIP, wise="auto", monitor_frac=0))
    with pytest.raises(CornkitError, match="--size 32: the cornkit-tiny-clip tower takes 64"):
        train_finetune(dataset, split, work, FinetuneSettings(**{**CLIP, "size": 32}))
    assert main(["finetune", "--data", str(corn), "--work", str(work), "--backbone", f"clip:{TINY_MODEL}"]) == 2
    assert "give --pretrained" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", "--data", str(corn), "--work", str(work), "--backbone", "timm:resnet18", "--ema", "1.5"])


def test_the_epoch_line_says_epoch_phase_loss_monitor_accuracy_and_time() -> None:
    assert epoch_line(2, 5, "all layers", 0.81234, 0.71, 12.34) == "epoch 2/5 (all layers): train loss 0.8123, monitor accuracy 0.7100, 12.3 s"
    assert epoch_line(1, 1, "head only", 1.0, None, 0.04) == "epoch 1/1 (head only): train loss 1.0000, 0.0 s"


def test_the_epoch_line_names_the_competition_metric_beside_accuracy() -> None:
    line = epoch_line(2, 5, "all layers", 0.8, 0.71, 1.0, {"log_loss": 0.51234})
    assert line == "epoch 2/5 (all layers): train loss 0.8000, monitor accuracy 0.7100, monitor log_loss 0.5123, 1.0 s"


def test_wise_keeps_the_alpha_best_in_the_metric_s_direction() -> None:
    """Under log loss the lowest score wins; under accuracy the highest; ties go to the smaller α."""
    model, zeroshot = torch.nn.Linear(1, 1, bias=False), {"weight": torch.zeros(1, 1)}
    with torch.no_grad():
        model.weight.fill_(1.0)
    losses = {0.0: 0.9, 0.1: 0.4, 0.2: 0.4, 0.3: 0.7}

    def score(net: torch.nn.Module) -> float:
        return losses[round(float(net.weight.detach()), 1)]

    best, scores = sweep_alpha(model, zeroshot, score, alphas=tuple(losses), greater_is_better=False)
    assert (best, scores) == (0.1, list(losses.values())) and float(model.weight.detach()) == pytest.approx(0.1)
    assert sweep_alpha(model, zeroshot, score, alphas=tuple(losses))[0] == 0.0


def test_without_a_terminal_one_line_per_epoch_and_no_carriage_returns(dataset, holdout, capsys):
    """Under pytest no stream is a terminal, as in a log file or a Kaggle kernel: no bar fragments, one log line per epoch, nothing on stdout."""
    split, work = holdout
    run = train_finetune(dataset, split, work, FinetuneSettings(**RESNET, epochs=2, lp_epochs=0))
    out, err = capsys.readouterr()
    assert out == "", "fastai's own prints (Better model found ...) would break stdout's one-result contract"
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(" (")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "\r" not in out and "\r" not in err
    assert (run.path / "network-fold0.safetensors").is_file()


@pytest.mark.parametrize(("backbone", "needs_open_clip"), [("clip:ViT-B-16", True), ("timm:convnext_tiny", False)])
def test_finetune_kernel_passes_backbone_and_recipe_flags(tmp_path, backbone, needs_open_clip):
    spec = KernelSpec(approach="finetune", user="cornkit-tester", model=backbone, pretrained="none", extra_args=("--mixup", "0.2", "--wise", "auto"))
    kernel = build_kernel(spec, tmp_path)
    sources = [cell.source for cell in nbformat.read(kernel.path / kernel.metadata["code_file"], as_version=4).cells]
    command = next(s for s in sources if s.startswith("RUN = cornkit("))
    assert '"--backbone", MODEL' in command and '"--mixup", "0.2", "--wise", "auto"' in command
    assert any(f'MODEL = "{backbone}"' in s for s in sources)
    assert any("pip" in s and "open_clip_torch" in s for s in sources) == needs_open_clip

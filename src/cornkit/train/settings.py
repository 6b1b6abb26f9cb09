"""What decides a fine-tuned model, declared once as one dataclass, and the checks that run before any image is read.

The declaration is light (no torch or timm at import): the command line derives the
``finetune`` flags from it.

A backbone is named ``timm:NAME`` (any timm model, with or without a pretrained tag) or
``clip:MODEL`` (the image tower of an open_clip model); a bare name is a timm model, as
``cornkit convnext --arch`` has always taken it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clip.params import ClipParams, PromptParams, check_pretrained
from ..defaults import BALANCE_MODES, CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from ..errors import CornkitError
from ..params import AUTO, Params, SearchRange, as_config, param, same_as, seed_param

TINY_ARCH = "convnext_atto"
SCHEDULES = ("one-cycle", "cosine")
HEADS = ("timm", "fastai")
WISE_ALPHAS = tuple(round(0.1 * k, 1) for k in range(11))


def split_backbone(backbone: str) -> tuple[str, str]:
    """``("timm", NAME)`` or ``("clip", MODEL)`` from ``timm:NAME``, ``clip:MODEL`` or a bare timm name."""
    kind, sep, name = backbone.partition(":")
    if sep and kind in ("timm", "clip"):
        return kind, name
    if sep and kind not in ("hf-hub", "local-dir"):
        raise CornkitError(f"--backbone {backbone!r}: write timm:NAME (e.g. timm:convnext_tiny) or clip:MODEL (e.g. clip:ViT-B-16).")
    return "timm", backbone


@dataclass(frozen=True, kw_only=True)
class FinetuneSettings(Params):
    """Everything that decides the trained models, declared once: the ``cornkit finetune`` flags, ``run_head("finetune", ...)``
    and the Run's config (and id) all come from these fields.

    The recipe: ``lp_epochs`` with only the classifier head training (linear probing; with a
    CLIP tower the head starts as the zero-shot text classifier), then ``epochs`` of the whole
    network on a ``schedule`` with ``warmup`` (share of the steps), the body at
    ``body_lr_mult`` times the head's rate and each block below the top at ``llrd`` times the
    one above; ``mixup``/``cutmix`` (Beta parameters, 0 = off) applied with ``mix_prob``;
    ``label_smoothing``; ``head`` ``"timm"`` (the model's own classifier) or ``"fastai"``
    (fastai's pooled head with batch norm and dropout); ``ema`` (decay of an exponential moving
    average of the weights, which are then the ones evaluated and exported; ``None`` = off);
    ``accum`` batches per optimizer step; ``drop_path`` (stochastic depth). ``wise`` (CLIP
    only): ``None`` keeps the fine-tuned weights, a number α in [0, 1] or ``"auto"`` interpolates
    them with the zero-shot ones. ``device`` says where it runs and is not recorded.
    """

    backbone: str = param(f"timm:{CONVNEXT_ARCH}", "timm:NAME (any timm model) or clip:MODEL (an open_clip image tower)")
    pretrained: str | None = param(
        None,
        "timm: 'hub' (default), a checkpoint file or 'none'; clip: an open_clip tag (e.g. laion2b_s34b_b88k), a checkpoint file or 'none'",
        check=check_pretrained,
    )
    size: int | None = param(None, "square input size in pixels (default: the backbone's; a CLIP tower's is fixed)", low=32)
    head: str = param("timm", "classifier: the timm model's own, or fastai's pooled head (batch norm, dropout)", choices=HEADS)
    epochs: int = param(5, "epochs of the whole network", low=1, sweep=SearchRange(2, 16, "int"))
    batch_size: int = param(32, "images per batch (per process)", low=1)
    lr: float | None = param(
        None, "peak learning rate of the head (default: fastai's lr_find suggestion)", low=0.0, low_open=True, sweep=SearchRange(1e-5, 1e-2, "log")
    )
    balance: str = param("none", "class imbalance: oversample rare classes or weight the loss", choices=BALANCE_MODES)
    tta: bool = param(True, "predict with test-time augmentation (--no-tta: without)")
    fold: int | None = param(None, "train only this fold of a k-fold split (default: every fold)", low=0)
    monitor_frac: float = param(
        0.1, "share of the training rows that pick the best epoch (0: all rows train, the last epoch is kept)", low=0.0, high=0.5, high_open=True
    )
    patience: int | None = param(None, "stop after this many epochs without a better accuracy on the monitor rows", low=1)
    device: str | None = same_as(ClipParams, "device")
    lp_epochs: int = param(1, "epochs training only the classifier head first (linear probing)", low=0)
    body_lr_mult: float = param(0.1, "the body's learning rate as a share of the head's", low=0.0, high=1.0, low_open=True)
    llrd: float = param(1.0, "layer-wise lr decay per block below the top, e.g. 0.75 (1: off)", low=0.0, high=1.0, low_open=True)
    schedule: str = param("one-cycle", "learning-rate schedule", choices=SCHEDULES)
    warmup: float = param(0.25, "share of each phase's steps spent warming up", low=0.0, high=1.0, high_open=True)
    mixup: float = param(0.0, "mixup Beta α, e.g. 0.2 (0: off)", low=0.0, high=100.0, sweep=SearchRange(0.0, 0.4))
    cutmix: float = param(0.0, "cutmix Beta α, e.g. 1.0 (0: off)", low=0.0, high=100.0)
    mix_prob: float = param(1.0, "probability that a batch is mixed", low=0.0, high=1.0)
    label_smoothing: float = param(0.1, "label smoothing ε", low=0.0, high=1.0, high_open=True, sweep=SearchRange(0.0, 0.2))
    ema: float | None = param(
        None, "decay of an EMA of the weights, e.g. 0.999; the EMA weights are evaluated and exported", low=0.0, high=1.0, low_open=True, high_open=True
    )
    accum: int = param(1, "batches per optimizer step (gradient accumulation)", low=1)
    drop_path: float = param(0.1, "stochastic depth rate of the last block", low=0.0, high=1.0, high_open=True)
    wise: float | str | None = param(
        None, "CLIP only: 'auto' (α chosen on the monitor rows) or α in [0, 1]: WiSE-FT interpolation with the zero-shot weights", low=0.0, high=1.0, auto=True
    )
    prompts: Path | None = same_as(PromptParams, "prompts")  # CLIP towers only: the zero-shot head they start from
    prompt_set: str | None = same_as(PromptParams, "prompt_set")
    max_lighting: float = param(0.1, "strength of the random brightness and contrast changes", low=0.0, high=1.0, high_open=True)
    max_warp: float = param(0.1, "strength of the random perspective warp", low=0.0, high=1.0, high_open=True)
    image_store: str = same_as(
        ClipParams, "image_store"
    )  # the store's path is not in the config; whether the store or the files fed the model is (``images_from``)
    export_learner: bool = param(
        False,
        "also write fastai's exported learner per fold (learner-fold<K>.pkl, a pickle); predict reads the safetensors weights",
        record=False,
    )  # an extra file beside the weights, not another model: not in the config (nor the run id)
    seed: int = seed_param()

    @property
    def kind(self) -> str:
        return split_backbone(self.backbone)[0]

    @property
    def arch(self) -> str:
        """The timm model name or open_clip model name, without the ``timm:``/``clip:`` prefix."""
        return split_backbone(self.backbone)[1]

    @property
    def is_clip(self) -> bool:
        return self.kind == "clip"

    @property
    def weights(self) -> str:
        """``pretrained``, with a timm backbone's default (the hub) filled in; a CLIP tower must name its weights."""
        if self.pretrained is not None:
            return self.pretrained
        if self.is_clip:
            raise CornkitError(f"--backbone {self.backbone}: give --pretrained, an open_clip tag (e.g. openai), a checkpoint file, or 'none'.")
        return TIMM_HUB

    @property
    def is_random(self) -> bool:
        return self.weights.lower() == RANDOM_WEIGHTS

    @property
    def is_hub(self) -> bool:
        return self.weights.lower() == TIMM_HUB

    @property
    def is_file(self) -> bool:
        return not self.is_random and not self.is_hub and Path(self.weights).is_file()

    @property
    def mixes(self) -> bool:
        return (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0

    @property
    def model_label(self) -> str:
        """The Run's ``model``: the timm name, or ``MODEL/TAG`` for a CLIP tower."""
        if not self.is_clip:
            return self.arch
        return f"{self.arch}/{Path(self.weights).name if self.is_file else self.weights}"

    def run_config(self) -> dict[str, Any]:
        """The Run's config: every recorded setting, with the weights' identity instead of their path."""
        config = as_config(self)
        config["pretrained"] = self.weights_identity()
        config["arch"] = self.arch
        return config

    def weights_identity(self) -> Any:
        """``hub``, ``none``, an open_clip tag or the identity of the checkpoint file (so a new file is a new Run)."""
        if self.is_file:
            from ..clip.model import checkpoint_identity

            return checkpoint_identity(Path(self.weights))
        return self.weights.lower() if self.is_random or self.is_hub else self.weights


def check_arch(arch: str) -> None:
    """Refuse a name timm does not know (or an unknown pretrained tag), listing close names."""
    import timm  # imported here: the command line reads these settings to build its parser

    known = arch in timm.list_pretrained() if "." in arch else timm.is_model(arch)
    if known:
        return
    names = timm.list_models() + timm.list_pretrained()
    close = difflib.get_close_matches(arch, names, n=8, cutoff=0.5)
    raise CornkitError(
        f"{arch!r} is not a timm model{' with that pretrained tag' if timm.is_model(arch) else ''}. "
        f"Close names: {', '.join(close) or 'none'}. "
        "`python -c \"import timm; print(timm.list_pretrained('convnext*'))\"` lists them."
    )


def wise_alpha(wise: float | str | None) -> float | None:
    """The fixed α of ``wise`` (``None`` for ``auto`` or no interpolation; the range is checked by the declaration)."""
    return None if wise is None or wise == AUTO else float(wise)


def check_settings(settings: FinetuneSettings) -> None:
    """Fail on bad flags before any image is read or any weight is loaded."""
    if settings.is_clip:
        from ..clip.model import ClipSpec, check_spec

        check_spec(ClipSpec(settings.arch, settings.weights))
    else:
        check_arch(settings.arch)
    if settings.head == "fastai" and (settings.is_clip or settings.llrd < 1):
        raise CornkitError(f"--head {settings.head!r}: 'timm' (the model's own classifier) or 'fastai' (timm backbones only, without --llrd).")
    if settings.mixes and settings.batch_size % 2:
        raise CornkitError(f"--batch-size {settings.batch_size}: mixup and cutmix pair the rows of a batch; give an even batch size.")
    if settings.patience is not None and settings.monitor_frac == 0:
        raise CornkitError("--patience needs monitor rows to watch: give --monitor-frac above 0 (e.g. 0.1), or leave --patience out.")
    if settings.wise is not None:
        if not settings.is_clip:
            raise CornkitError("--wise interpolates with the zero-shot weights of a CLIP tower: use it with --backbone clip:MODEL.")
        if wise_alpha(settings.wise) is None and settings.monitor_frac == 0:
            raise CornkitError("--wise auto chooses α on the monitor rows: give --monitor-frac above 0, or a fixed --wise α.")
    if not settings.is_clip and not (settings.is_random or settings.is_hub or settings.is_file):
        raise CornkitError(
            f"--pretrained {settings.weights}: no such checkpoint file. Give 'hub' (download from the Hugging Face hub), "
            "a path to a timm checkpoint file for this backbone, or 'none' for random weights."
        )

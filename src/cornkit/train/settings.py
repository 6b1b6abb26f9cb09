"""What decides a fine-tuned model, written once as one dataclass, and the checks that run before any image is read.

A backbone is named ``timm:NAME`` (any timm model, with or without a pretrained tag) or
``clip:MODEL`` (the image tower of an open_clip model); a bare name is a timm model, as
``cornkit convnext --arch`` has always taken it.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import timm

from ..clip.model import checkpoint_identity
from ..defaults import BALANCE_MODES, CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from ..errors import CornkitError

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


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything that decides the trained models; it becomes the Run's config (and id).

    The recipe: ``lp_epochs`` with only the classifier head training (linear probing; with a
    CLIP tower the head starts as the zero-shot text classifier), then ``epochs`` of the whole
    network on a ``schedule`` with ``warmup`` (share of the steps), the body at
    ``body_lr_mult`` times the head's rate and each block below the top at ``llrd`` times the
    one above; ``mixup``/``cutmix`` (Beta parameters, 0 = off) applied with ``mix_prob``;
    ``label_smoothing``; ``head`` ``"timm"`` (the model's own classifier) or ``"fastai"``
    (fastai's pooled head with batch norm and dropout); ``ema`` (decay of an exponential moving average of the weights, which
    are then the ones evaluated and exported; ``None`` = off); ``accum`` batches per optimizer
    step; ``drop_path`` (stochastic depth). ``wise`` (CLIP only): ``None`` keeps the fine-tuned
    weights, a number α in [0, 1] or ``"auto"`` interpolates them with the zero-shot ones.
    """

    backbone: str = f"timm:{CONVNEXT_ARCH}"
    pretrained: str = TIMM_HUB
    head: str = "timm"
    epochs: int = 5
    lp_epochs: int = 1
    size: int | None = None
    batch_size: int = 32
    lr: float | None = None
    body_lr_mult: float = 0.1
    schedule: str = "one-cycle"
    warmup: float = 0.25
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    label_smoothing: float = 0.1
    ema: float | None = None
    llrd: float = 1.0
    accum: int = 1
    drop_path: float = 0.0
    wise: str | None = None
    prompts: str | None = None
    prompt_set: str | None = None
    balance: str = "none"
    tta: bool = True
    seed: int = 42
    fold: int | None = None
    patience: int | None = None
    monitor_frac: float = 0.1
    max_lighting: float = 0.1
    max_warp: float = 0.1
    image_store: str = "auto"
    """Where decoded images are kept: "auto", a folder or "none" (:func:`cornkit.data.image_store.store_root`); speed only, so not in the Run's config."""

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
    def is_random(self) -> bool:
        return self.pretrained.lower() == RANDOM_WEIGHTS

    @property
    def is_hub(self) -> bool:
        return self.pretrained.lower() == TIMM_HUB

    @property
    def is_file(self) -> bool:
        return not self.is_random and not self.is_hub and Path(self.pretrained).is_file()

    @property
    def mixes(self) -> bool:
        return (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0

    @property
    def model_label(self) -> str:
        """The Run's ``model``: the timm name, or ``MODEL/TAG`` for a CLIP tower."""
        if not self.is_clip:
            return self.arch
        return f"{self.arch}/{Path(self.pretrained).name if self.is_file else self.pretrained}"

    def run_config(self) -> dict[str, Any]:
        """The Run's config: every setting, with the weights' identity instead of their path."""
        config = asdict(self)
        del config["image_store"]  # where the images were decoded from is no part of the recipe (the Run's metrics say)
        config["pretrained"] = self.weights_identity()
        config["arch"] = self.arch
        return config

    def weights_identity(self) -> Any:
        """``hub``, ``none``, an open_clip tag or the identity of the checkpoint file (so a new file is a new Run)."""
        if self.is_file:
            return checkpoint_identity(Path(self.pretrained))
        return self.pretrained.lower() if self.is_random or self.is_hub else self.pretrained


def check_arch(arch: str) -> None:
    """Refuse a name timm does not know (or an unknown pretrained tag), listing close names."""
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


def wise_alpha(wise: str | None) -> float | None:
    """The fixed α of ``--wise A`` (``None`` for ``auto`` or no interpolation)."""
    if wise is None or wise == "auto":
        return None
    try:
        alpha = float(wise)
    except ValueError:
        alpha = -1.0
    if not 0 <= alpha <= 1:
        raise CornkitError(f"--wise {wise!r}: give 'auto' or a weight α from 0 (the zero-shot model) to 1 (the fine-tuned model).")
    return alpha


def _check_ranges(settings: FinetuneSettings) -> None:
    for flag, value in (("--epochs", settings.epochs), ("--batch-size", settings.batch_size), ("--accum", settings.accum)):
        if value < 1:
            raise CornkitError(f"{flag} {value}: must be at least 1.")
    if settings.size is not None and settings.size < 1:
        raise CornkitError(f"--size {settings.size}: must be at least 1.")
    if settings.lp_epochs < 0:
        raise CornkitError(f"--lp-epochs {settings.lp_epochs}: must be 0 or more.")
    shares = (
        ("--label-smoothing", settings.label_smoothing, False),
        ("--drop-path", settings.drop_path, False),
        ("--warmup", settings.warmup, False),
        ("--mix-prob", settings.mix_prob, True),
    )
    for flag, share, one_allowed in shares:
        if not (0 <= share < 1 or (one_allowed and share == 1)):
            raise CornkitError(f"{flag} {share}: give a number from 0 up to 1.")
    for flag, alpha in (("--mixup", settings.mixup), ("--cutmix", settings.cutmix)):
        if alpha < 0:
            raise CornkitError(f"{flag} {alpha}: give the Beta distribution's α (0 = off, e.g. 0.2 for mixup, 1.0 for cutmix).")
    if settings.ema is not None and not 0 < settings.ema < 1:
        raise CornkitError(f"--ema {settings.ema}: give a decay between 0 and 1, e.g. 0.999 (or leave --ema out).")
    if not 0 < settings.llrd <= 1 or not 0 < settings.body_lr_mult <= 1:
        raise CornkitError(f"--llrd {settings.llrd} / --body-lr-mult {settings.body_lr_mult}: give factors above 0 and at most 1.")
    if settings.mixes and settings.batch_size % 2:
        raise CornkitError(f"--batch-size {settings.batch_size}: mixup and cutmix pair the rows of a batch; give an even batch size.")


def check_settings(settings: FinetuneSettings) -> None:
    """Fail on bad flags before any image is read or any weight is loaded."""
    if settings.is_clip:
        from ..clip.model import ClipSpec, check_spec

        check_spec(ClipSpec(settings.arch, settings.pretrained))
    else:
        check_arch(settings.arch)
    if settings.balance not in BALANCE_MODES:
        raise CornkitError(f"--balance {settings.balance!r}: choose one of {', '.join(BALANCE_MODES)}.")
    if settings.head not in HEADS or (settings.head == "fastai" and (settings.is_clip or settings.llrd < 1)):
        raise CornkitError(f"--head {settings.head!r}: 'timm' (the model's own classifier) or 'fastai' (timm backbones only, without --llrd).")
    if settings.schedule not in SCHEDULES:
        raise CornkitError(f"--schedule {settings.schedule!r}: choose one of {', '.join(SCHEDULES)}.")
    _check_ranges(settings)
    if not 0 <= settings.monitor_frac < 0.5:
        raise CornkitError(f"--monitor-frac {settings.monitor_frac}: give a share of the training rows from 0 up to 0.5, e.g. 0.1.")
    if settings.patience is not None and settings.monitor_frac == 0:
        raise CornkitError("--patience needs monitor rows to watch: give --monitor-frac above 0 (e.g. 0.1), or leave --patience out.")
    if settings.wise is not None:
        if not settings.is_clip:
            raise CornkitError("--wise interpolates with the zero-shot weights of a CLIP tower: use it with --backbone clip:MODEL.")
        if wise_alpha(settings.wise) is None and settings.monitor_frac == 0:
            raise CornkitError("--wise auto chooses α on the monitor rows: give --monitor-frac above 0, or a fixed --wise α.")
    if not settings.is_clip and not (settings.is_random or settings.is_hub or settings.is_file):
        raise CornkitError(
            f"--pretrained {settings.pretrained}: no such checkpoint file. Give 'hub' (download from the Hugging Face hub), "
            "a path to a timm checkpoint file for this backbone, or 'none' for random weights."
        )

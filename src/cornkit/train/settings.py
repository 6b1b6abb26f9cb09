"""What decides a fine-tuned model, written once as one dataclass, and the checks that run before any image is read."""



from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import timm

from ..clip.model import checkpoint_identity
from ..defaults import BALANCE_MODES, CONVNEXT_ARCH, RANDOM_WEIGHTS, TIMM_HUB
from ..errors import CornkitError

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

    def run_config(self) -> dict[str, Any]:
        """The Run's config: every setting, with the weights' identity instead of their path."""
        config = asdict(self)
        config["pretrained"] = self.weights_identity()
        return config

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



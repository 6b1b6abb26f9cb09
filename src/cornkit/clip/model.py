"""Load an open_clip model from a pretrained tag, a local checkpoint, or random weights.

``--pretrained`` takes one of

- an open_clip tag (``openai``, ``laion2b_s32b_b79k``, ...), downloaded from the hub;
- a path to a checkpoint file (e.g. a Kaggle dataset attached to a kernel);
- ``none``: random weights, for tests and the demo only (loudly flagged: a zero-shot head on
  random weights is at chance level).

The kit registers a tiny model config, ``cornkit-tiny-clip``, so that tests and the demo run
the real open_clip code paths in seconds on a CPU.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import open_clip
import torch

from ..defaults import RANDOM_WEIGHTS
from ..errors import CornkitError
from ..hashing import ends_hash
from ..hub import offline_error, require_hub

log = logging.getLogger(__name__)

TINY_MODEL = "cornkit-tiny-clip"
RANDOM_WEIGHTS_SEED = 0
_registered = False


def register_tiny_model() -> None:
    """Add the kit's model configs (``cornkit-tiny-clip``) to open_clip's registry, once."""
    global _registered
    if not _registered:
        open_clip.add_model_config(Path(str(files("cornkit.clip") / "model_configs")))
        _registered = True


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """The torch device asked for (``--device``), or the default; CUDA without a usable GPU is refused by name."""
    if device is None:
        return default_device()
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise CornkitError(f"--device {device!r} is not a device: give cpu, cuda or cuda:N.") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise CornkitError(f"--device {device}: CUDA is not available on this machine ({why}); use --device cpu or leave --device out.")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise CornkitError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0.")
    return chosen


def checkpoint_identity(path: Path) -> dict[str, Any]:
    """A cheap identity for a checkpoint: name, size and a hash of its first and last MiB.

    Hashing multi-GB checkpoints on every call would cost more than the cache saves.
    """
    return {"file": path.name, "size": path.stat().st_size, "sha256_ends": ends_hash(path)}


@dataclass(frozen=True)
class ClipSpec:
    """Which open_clip model and weights, and whether to average flipped views: all that decides its features.

    ``flip_tta`` embeds each image four times (as is, mirrored left-right, up-down, both) and
    averages the embeddings: a kernel has no up or left, so the views are label-preserving
    test-time augmentation, at four times the compute.
    """

    model: str
    pretrained: str
    flip_tta: bool = False

    @property
    def is_random(self) -> bool:
        return self.pretrained.lower() == RANDOM_WEIGHTS

    @property
    def is_file(self) -> bool:
        return not self.is_random and Path(self.pretrained).is_file()

    def identity(self) -> dict[str, Any]:
        """What keys the feature cache: the model name, the weights' identity, the TTA views."""
        if self.is_file:
            identity = {"model": self.model, "pretrained": checkpoint_identity(Path(self.pretrained))}
        else:
            identity = {"model": self.model, "pretrained": self.pretrained.lower() if self.is_random else self.pretrained}
        return {**identity, "flip_tta": True} if self.flip_tta else identity

    @property
    def label(self) -> str:
        """A short human name, e.g. ``ViT-B-32/openai``."""
        weights = Path(self.pretrained).name if self.is_file else self.pretrained
        return f"{self.model}/{weights}{'+flips' if self.flip_tta else ''}"


@dataclass
class LoadedClip:
    """An open_clip model in eval mode with its validation transform and tokenizer."""

    spec: ClipSpec
    model: Any  # an open_clip.CLIP (open_clip ships no type information)
    preprocess: Any
    tokenizer: Any
    device: torch.device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())


def check_spec(spec: ClipSpec) -> None:
    """Refuse an unknown model name or tag with the close matches, before anything loads."""
    register_tiny_model()
    if spec.model.startswith(("hf-hub:", "local-dir:")):
        return
    models = open_clip.list_models()
    if spec.model not in models:
        close = difflib.get_close_matches(spec.model, models, n=5, cutoff=0.4)
        raise CornkitError(
            f"--model {spec.model!r} is not an open_clip model. Close names: {', '.join(close) or 'none'}. "
            '`python -c "import open_clip; print(open_clip.list_models())"` lists them all.'
        )
    if spec.is_random or spec.is_file:
        return
    looks_like_path = any(s in spec.pretrained for s in ("/", "\\")) or spec.pretrained.endswith((".pt", ".bin", ".safetensors", ".pth"))
    if looks_like_path:
        raise CornkitError(f"--pretrained {spec.pretrained}: no such checkpoint file.")
    tags = open_clip.list_pretrained_tags_by_model(spec.model)
    if spec.pretrained not in tags:
        raise CornkitError(
            f"--pretrained {spec.pretrained!r} is not a tag of {spec.model}. Its tags: {', '.join(tags) or 'none'}; "
            "or give a checkpoint file path, or 'none' for random weights."
        )


def _not_the_random_init_notice(record: logging.LogRecord) -> bool:
    return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _without_open_clip_random_notice() -> Iterator[None]:
    """open_clip logs "No pretrained weights loaded" on the root logger; cornkit has said so already, louder."""
    root = logging.getLogger()
    root.addFilter(_not_the_random_init_notice)
    try:
        yield
    finally:
        root.removeFilter(_not_the_random_init_notice)


def load_clip(spec: ClipSpec, device: torch.device | str | None = None) -> LoadedClip:
    """Create the model and its transforms through open_clip, weights from tag, file or nowhere."""
    check_spec(spec)
    device = resolve_device(device)
    local_hint = (
        "Pass a local checkpoint instead: --pretrained /path/to/open_clip_pytorch_model.bin "
        "(on Kaggle, attach the weights as a dataset or model and point at the file under /kaggle/input)."
    )
    if spec.is_random:
        log.warning("%s has RANDOM weights (--pretrained none): fine for tests and the demo, meaningless for a submission.", spec.model)
    elif not spec.is_file and not spec.model.startswith("local-dir:"):
        require_hub(f"{spec.label} weights", local_hint)
    pretrained = None if spec.is_random else spec.pretrained
    try:
        with torch.random.fork_rng(devices=[]), _without_open_clip_random_notice():
            torch.manual_seed(RANDOM_WEIGHTS_SEED)  # "none" must mean the same random model every time
            model, _, preprocess = open_clip.create_model_and_transforms(spec.model, pretrained=pretrained, device=device)
        tokenizer = open_clip.get_tokenizer(spec.model)
    except (RuntimeError, OSError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as error:
        if spec.is_file:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            raise CornkitError(f"--pretrained {spec.pretrained}: not a checkpoint for {spec.model} ({reason}).") from None
        if not isinstance(error, (RuntimeError, OSError)):
            raise
        if "download" in str(error).lower():
            raise offline_error(f"{spec.label} weights", local_hint, error) from error
        raise CornkitError(f"could not load {spec.label}: {error}") from error
    model.eval()
    return LoadedClip(spec=spec, model=model, preprocess=preprocess, tokenizer=tokenizer, device=device)

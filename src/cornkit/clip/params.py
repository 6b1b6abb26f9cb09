"""The parameters of every command on CLIP features: which model and weights, how to run it, which prompts.

Declared once (:mod:`cornkit.params`): ``cornkit features``, ``prompts compare`` and every head on
features take these fields as flags, ``run_head(..., model=..., pretrained=...)`` as keyword
arguments, with the same checks. This module stays light (no torch, no open_clip): the command
line imports it to build its parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..params import Params, param

if TYPE_CHECKING:
    from .model import ClipSpec

IMAGE_STORE_HELP = (
    "folder of the decoded-image store (default 'auto': $CORNKIT_IMAGE_STORE, else WORK/image-store; scratch space in a Kaggle kernel); "
    "'none' reads the image files every time"
)
CHECKPOINT_MAGIC = (b"PK\x03\x04",)  # torch.save's zip format (also TorchScript)
PICKLE_PROTOCOLS = range(2, 6)


def looks_like_checkpoint(path: Path) -> bool:
    """True for a file in a weights format torch, timm or open_clip can read: zip, pickle or safetensors.

    Only the first bytes are read, so a multi-GB file costs nothing; a text file, an image or an
    HTML error page saved under a checkpoint's name is told apart at once.
    """
    with path.open("rb") as handle:
        head = handle.read(9)
    if head.startswith(CHECKPOINT_MAGIC) or (len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS):
        return True
    if len(head) == 9:  # safetensors: little-endian header length, then the JSON header
        header_length = int.from_bytes(head[:8], "little")
        return head[8:9] == b"{" and 0 < header_length < path.stat().st_size
    return False


def check_pretrained(text: str) -> None:
    """A tag or keyword passes; an existing path must be a checkpoint file (ValueError with the reason)."""
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"{text} is a folder; give the checkpoint file inside it")
    if path.is_file() and not looks_like_checkpoint(path):
        raise ValueError(f"{text} is not a checkpoint (not a torch, pickle or safetensors file); give the weights file")


def check_device(text: str) -> None:
    """cpu, cuda or cuda:N; CUDA is refused, by name, on a machine without it (torch loads only when a device is given)."""
    from ..errors import CornkitError
    from .model import resolve_device

    try:
        resolve_device(text)
    except CornkitError as error:
        raise ValueError(str(error).removeprefix(f"--device {text}: ")) from None


@dataclass(frozen=True, kw_only=True)
class ClipParams(Params):
    """Which CLIP model and weights make the features, and how the extraction runs."""

    model: str = param(help="open_clip model name, e.g. ViT-B-32, ViT-H-14, cornkit-tiny-clip")
    pretrained: str = param(help="open_clip tag (e.g. laion2b_s32b_b79k), checkpoint file path, or 'none' (random weights)", check=check_pretrained)
    flip_tta: bool = param(False, "average the embeddings of 4 flipped views of each image (4x compute)")
    device: str | None = param(None, "cpu, cuda, cuda:1, ... (default: cuda if available)", check=check_device, record=False)
    batch_size: int = param(64, "images per batch", low=1, record=False)
    workers: int | None = param(None, "DataLoader workers (default: CPU count up to 8 on CUDA, 0 on the CPU)", low=0, record=False)
    image_store: str = param("auto", IMAGE_STORE_HELP, record=False)

    def clip_spec(self) -> ClipSpec:
        """The model and weights that decide the features."""
        from .model import ClipSpec

        return ClipSpec(self.model, self.pretrained, flip_tta=self.flip_tta)

    def extraction_options(self) -> dict[str, Any]:
        """``device``, ``batch_size`` and ``num_workers`` for the feature extractor."""
        return {"device": self.device, "batch_size": self.batch_size, "num_workers": self.workers}


@dataclass(frozen=True, kw_only=True)
class PromptParams(Params):
    """The text side of zero-shot, and of every head that starts from it or mixes with it."""

    prompts: Path | None = param(None, "TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")
    prompt_set: str | None = param(None, "set name in the prompt file (default: the file's default)")

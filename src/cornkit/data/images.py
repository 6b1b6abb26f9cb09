"""The one image reader: every path that opens an image (features, fine-tune, galleries) goes through it.

A broken file is named in a :class:`~cornkit.errors.CornkitError` instead of a PIL traceback,
so a training or a feature pass that meets it ends with one line saying which file to replace.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import CornkitError


def read_image(path: Path, where: str) -> Image.Image:
    """Open and fully decode one image as RGB; ``where`` says who asked (named in the error)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise CornkitError(f"{where}: image {path} cannot be read ({error}). It may be truncated: re-download it.") from error

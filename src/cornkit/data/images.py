"""The one image reader: every path that opens an image (features, fine-tune, galleries) goes through it.

It returns the image as a person sees it in a viewer, as 8-bit RGB:

- EXIF orientation applied (a phone photo stored sideways is turned upright);
- 16-bit and 32-bit greyscale (``I;16``, ``I``, common from lab cameras) scaled to 8 bits
  rather than clipped, which would make nearly every pixel white;
- transparency (``RGBA``, ``LA``, ``PA``, palette images with a transparent colour) composited
  over white, the light background the kernels are photographed on, instead of dropped (which
  shows whatever colour the transparent pixels happen to hold);
- CMYK and every other mode converted by Pillow.

A broken file or a decompression bomb (more pixels than ``Image.MAX_IMAGE_PIXELS``) is named in
a one-line :class:`~cornkit.errors.CornkitError` instead of a PIL traceback, so a training or a
feature pass that meets it ends with one line saying which file to replace.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import CornkitError

BACKGROUND = (255, 255, 255)
"""What shows through transparent pixels: white, like the light background the kernels sit on."""
WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _wide_grey_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale to 8 bits: 16-bit values (0..65535) are divided by 257, a float image is clipped to 0..255.

    A 32-bit ``I`` image has no declared range: values above 255 are taken as 16-bit (how Pillow
    opens 16-bit files in some formats), others as 8-bit.
    """
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and values.max(initial=0) > 255):
        values = values / 257.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB the way a viewer shows it (orientation, bit depth, transparency over white)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GREY_MODES:
        return _wide_grey_to_l(image).convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: Path, where: str) -> Image.Image:
    """Open and fully decode one image as RGB (see the module notes); ``where`` says who asked (named in the error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise CornkitError(f"{where}: image {path} is too large to decode safely ({error.args[0].split('.')[0]}); shrink it or replace it.") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CornkitError(f"{where}: image {path} cannot be read ({reason}). It may be truncated: re-download it.") from None

"""The one image reader decodes every mode the way a viewer shows it, and names a file it cannot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cornkit.data.images import read_image
from cornkit.errors import CornkitError


def _rgb(path: Path) -> np.ndarray:
    image = read_image(path, "test")
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def test_a_16_bit_grey_png_keeps_its_grey_levels(tmp_path: Path) -> None:
    levels = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16).repeat(4, axis=0)
    Image.fromarray(levels).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    assert _rgb(tmp_path / "g16.png")[0, :, 0].tolist() == [0, 64, 128, 255]


def test_a_dark_16_bit_image_stays_dark(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 1000, dtype=np.uint16)).save(tmp_path / "dark.png")
    assert _rgb(tmp_path / "dark.png")[0, 0].tolist() == [4, 4, 4]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, :10] = 255  # white left half, stored landscape
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = _rgb(tmp_path / "rotated.jpg")
    assert shown.shape == (20, 10, 3)
    assert shown[:8].mean() > 200 and shown[12:].mean() < 50  # the white half is now on top


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_pixels_show_the_white_background(tmp_path: Path, mode: str) -> None:
    image = Image.new(mode, (4, 4), (0, 0, 0, 0) if mode == "RGBA" else (0, 0))  # transparent black
    image.putpixel((0, 0), (0, 0, 0, 255) if mode == "RGBA" else (0, 255))  # one opaque black pixel
    image.save(tmp_path / "a.png")
    shown = _rgb(tmp_path / "a.png")
    assert shown[0, 0].tolist() == [0, 0, 0] and shown[3, 3].tolist() == [255, 255, 255]


def test_a_palette_image_with_a_transparent_colour(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "p.png", transparency=0)
    shown = _rgb(tmp_path / "p.png")
    assert shown[0, 0].tolist() == [255, 255, 255] and shown[1, 1].tolist() == [200, 0, 0]


def test_cmyk_is_converted_to_the_colours_it_prints(tmp_path: Path) -> None:
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)  # pure red ink
    red = _rgb(tmp_path / "c.jpg")[0, 0]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_a_decompression_bomb_is_one_line_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("L", (200, 200)).save(tmp_path / "bomb.png")
    for limit in (30_000, 10_000):  # over the limit (warning) and over twice the limit (error)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(CornkitError, match=r"test: image .*bomb.png is too large to decode safely") as error:
            read_image(tmp_path / "bomb.png", "test")
        assert "\n" not in str(error.value)


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "t.png")
    (tmp_path / "t.png").write_bytes((tmp_path / "t.png").read_bytes()[:60])
    with pytest.raises(CornkitError, match=r"t.png cannot be read"):
        read_image(tmp_path / "t.png", "test")

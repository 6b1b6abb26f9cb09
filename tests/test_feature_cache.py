"""The feature cache follows the images (key on size and mtime_ns) and never serves damaged numbers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from cornkit.clip.features import _load_cached, extract_features, feature_key
from cornkit.data.dataset import load_dataset


def _same_size_other_content(dataset) -> int:
    """Overwrite one train image in place with another image's pixels, keeping its byte size; return its row."""
    paths = dataset.image_paths("train")
    sizes = [p.stat().st_size for p in paths[:10]]
    small, large = int(np.argmin(sizes)), int(np.argmax(sizes))
    assert sizes[small] < sizes[large]
    before = paths[large].stat()
    paths[large].write_bytes(paths[small].read_bytes() + b"\0" * (sizes[large] - sizes[small]))  # PNG readers ignore bytes after IEND
    os.utime(paths[large], ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert paths[large].stat().st_size == before.st_size
    return large


def test_an_image_edited_in_place_with_the_same_size_gets_new_features(corn_copy: Path, tmp_path: Path, tiny_clip) -> None:
    dataset = load_dataset(corn_copy)
    first = extract_features(dataset, tmp_path, tiny_clip, num_workers=0)
    row = _same_size_other_content(dataset)
    assert feature_key(tiny_clip, dataset) != first.key
    second = extract_features(dataset, tmp_path, tiny_clip, num_workers=0)
    assert not np.allclose(second.train[row], first.train[row])
    np.testing.assert_allclose(np.delete(second.train, row, axis=0), np.delete(first.train, row, axis=0), atol=1e-5)


def _damage_truncate(folder: Path) -> None:
    data = (folder / "train.npy").read_bytes()
    (folder / "train.npy").write_bytes(data[: len(data) // 2])


def _damage_overwrite(folder: Path) -> None:
    data = bytearray((folder / "train.npy").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    (folder / "train.npy").write_bytes(bytes(data))


def _damage_meta(folder: Path) -> None:
    (folder / "meta.json").write_text('{"key": ')


def _damage_ids(folder: Path) -> None:
    np.save(folder / "test_ids.npy", np.arange(3))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_overwrite, _damage_meta, _damage_ids])
def test_a_damaged_cache_is_detected_not_served(clip_work, tmp_path: Path, damage, capsys: pytest.CaptureFixture[str]) -> None:
    good = clip_work[3]
    copy = Path(shutil.copytree(good.path, tmp_path / good.key))
    assert _load_cached(copy, good.key) is not None
    damage(copy)
    assert _load_cached(copy, good.key) is None
    assert f"feature cache {copy} is damaged" in capsys.readouterr().err


def test_a_truncated_cache_is_rebuilt_with_the_same_numbers(clip_work, tmp_path: Path, tiny_clip, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, _, _, good = clip_work
    work = tmp_path / "work"
    shutil.copytree(good.path, work / "features" / good.key)
    _damage_truncate(work / "features" / good.key)
    again = extract_features(dataset, work, tiny_clip, num_workers=0)
    assert "is damaged" in capsys.readouterr().err and again.key == good.key
    np.testing.assert_allclose(again.train, good.train, atol=1e-6)
    assert extract_features(dataset, work, tiny_clip).path == again.path
    assert "damaged" not in capsys.readouterr().err  # rebuilt whole: read back silently

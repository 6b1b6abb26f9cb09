"""CLIP features: normalised, cached (a hit loads no model), from tag, file or random weights."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cornkit.clip.features as features_module
from cornkit.clip.features import extract_features
from cornkit.clip.model import TINY_MODEL, ClipSpec, load_clip
from cornkit.data.dataset import load_dataset
from cornkit.errors import CornkitError
from cornkit.locks import LOCK_DIR


def test_features_are_unit_vectors_in_csv_order(clip_work) -> None:
    dataset, _, _, features = clip_work
    assert features.train.shape == (len(dataset.train), 64) and features.test.shape == (len(dataset.test), 64)
    assert np.allclose(np.linalg.norm(features.train, axis=1), 1, atol=1e-5)
    assert list(features.train_ids) == dataset.ids("train") and list(features.test_ids) == dataset.ids("test")


def test_second_call_is_a_cache_hit_that_loads_no_model(clip_work, monkeypatch: pytest.MonkeyPatch, tiny_clip: ClipSpec) -> None:
    dataset, _, work, first = clip_work

    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit must not load a model")

    monkeypatch.setattr(features_module, "load_clip", refuse)
    again = extract_features(dataset, work, tiny_clip)
    assert again.path == first.path
    assert np.array_equal(again.train, first.train)


def test_other_images_or_weights_get_another_cache_entry(clip_work, corn_copy: Path, tmp_path: Path, tiny_clip: ClipSpec) -> None:
    dataset, _, work, first = clip_work
    clip = load_clip(tiny_clip, "cpu")
    checkpoint = tmp_path / "tiny.pt"
    torch.save(clip.model.state_dict(), checkpoint)
    from_file = extract_features(dataset, work, ClipSpec(TINY_MODEL, str(checkpoint)), num_workers=0)
    assert from_file.key != first.key
    assert np.allclose(from_file.train, first.train, atol=1e-5)  # the same weights, read from a file

    (corn_copy / "train" / "00000.png").write_bytes((corn_copy / "train" / "00001.png").read_bytes())
    changed = extract_features(load_dataset(corn_copy), work, tiny_clip, num_workers=0)
    assert changed.key != first.key


def test_truncated_image_is_named_and_no_cache_is_left(corn_copy: Path, tmp_path: Path, tiny_clip: ClipSpec) -> None:
    broken = corn_copy / "test" / "00003.png"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(CornkitError, match=r"test/00003.png cannot be read"):
        extract_features(load_dataset(corn_copy), tmp_path, tiny_clip, num_workers=0)
    features_dir = tmp_path / "features"
    assert not features_dir.exists() or [p for p in features_dir.iterdir() if p.name != LOCK_DIR] == []


def test_hub_tag_offline_fails_fast_and_says_how_to_use_a_file(corn_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CornkitError, match=r"cannot fetch ViT-B-32/openai weights: HF_HUB_OFFLINE is set.*--pretrained /path/to/"):
        extract_features(load_dataset(corn_dir), tmp_path, ClipSpec("ViT-B-32", "openai"))
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ClipSpec("ViT-B-33", "openai"), r"--model 'ViT-B-33' is not an open_clip model. Close names: .*ViT-B-32"),
        (ClipSpec("ViT-B-32", "laion9000"), r"--pretrained 'laion9000' is not a tag of ViT-B-32. Its tags: .*openai"),
        (ClipSpec("ViT-B-32", "weights/missing.pt"), r"--pretrained weights/missing.pt: no such checkpoint file"),
    ],
)
def test_unknown_model_tag_or_file_is_refused_before_loading(corn_dir: Path, tmp_path: Path, spec: ClipSpec, message: str) -> None:
    with pytest.raises(CornkitError, match=message):
        extract_features(load_dataset(corn_dir), tmp_path, spec)


def test_flip_tta_features_do_not_change_when_the_image_is_mirrored(clip_work, tiny_clip: ClipSpec) -> None:
    dataset, _, work, plain = clip_work
    flipped_spec = ClipSpec(tiny_clip.model, tiny_clip.pretrained, flip_tta=True)
    tta = extract_features(dataset, work, flipped_spec, num_workers=0)
    assert tta.key != plain.key and "+flips" in tta.meta["label"]
    assert np.allclose(np.linalg.norm(tta.train, axis=1), 1, atol=1e-5)

    clip = load_clip(flipped_spec, "cpu")
    image = clip.preprocess(Image.open(dataset.image_paths("train")[0]).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        as_is = features_module.embed_batch(clip, image)
        assert np.allclose(as_is.numpy()[0], tta.train[0], atol=1e-5)
        for dims in ((-1,), (-2,)):
            assert torch.allclose(features_module.embed_batch(clip, image.flip(dims)), as_is, atol=1e-5)
        assert not torch.allclose(clip.model.encode_image(image.flip(-1), normalize=True), clip.model.encode_image(image, normalize=True), atol=1e-3)

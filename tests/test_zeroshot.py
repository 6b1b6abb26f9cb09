"""Zero-shot: the Run's probabilities are exactly CLIP's, for every way of combining names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from open_clip import build_zero_shot_classifier
from PIL import Image

from cornkit.clip.model import ClipSpec, load_clip
from cornkit.heads.registry import run_head
from cornkit.runs.run import Run, load_run

TWO_NAMES = {"templates": ["a photo of a {}.", "a close-up of a {} kernel."], "names": lambda c: [f"{c} corn", f"{c} maize seed"]}


def _zeroshot(clip_work, tmp_path: Path, combine: str = "mean", templates=TWO_NAMES["templates"], names=TWO_NAMES["names"]) -> Run:
    """The zero-shot Run of a one-set prompt file written for this test."""
    dataset, split, work, _ = clip_work
    lines = ['default = "test"', "[sets.test]", f'combine = "{combine}"', f"templates = {json.dumps(templates)}", "[sets.test.names]"]
    lines += [f"{c} = {json.dumps(names(c))}" for c in dataset.classes]
    prompts = tmp_path / f"prompts-{combine}.toml"
    prompts.write_text("\n".join(lines) + "\n")
    return run_head("zeroshot", dataset, split, work, model="cornkit-tiny-clip", pretrained="none", workers=0, prompts=prompts)


def test_probabilities_equal_open_clip_features_times_its_classifier(clip_work, tiny_clip: ClipSpec, tmp_path: Path) -> None:
    dataset, _split, _work, _ = clip_work
    run = _zeroshot(clip_work, tmp_path, templates=["a photo of a {} corn kernel."], names=lambda c: [c])

    clip = load_clip(tiny_clip, "cpu")
    weights = build_zero_shot_classifier(clip.model, clip.tokenizer, list(dataset.classes), ["a photo of a {} corn kernel."])
    row = run.val.iloc[3]
    image_path = dataset.root / dataset.train.set_index("seed_id").loc[row["seed_id"], "image"]
    with torch.no_grad():
        image = clip.preprocess(Image.open(image_path).convert("RGB")).unsqueeze(0)
        features = clip.model.encode_image(image, normalize=True)
        expected = (clip.model.logit_scale.exp() * features @ weights).softmax(dim=-1)[0].numpy()
    assert np.allclose(row[list(dataset.classes)].to_numpy(dtype=float), expected, atol=1e-5)


def test_max_combines_by_best_name_and_mean_by_averaged_embedding(clip_work, tiny_clip: ClipSpec, tmp_path: Path) -> None:
    dataset, split, _, features = clip_work
    clip = load_clip(tiny_clip, "cpu")
    classes = dataset.classes
    per_name = build_zero_shot_classifier(
        clip.model, clip.tokenizer, [n for c in classes for n in (f"{c} corn", f"{c} maize seed")], ["a photo of a {}.", "a close-up of a {} kernel."]
    ).numpy()
    val_features = features.rows("train", split.evaluation_ids()).astype(np.float64)
    logits = clip.logit_scale * val_features @ per_name

    best_name = logits.reshape(len(logits), len(classes), 2).max(axis=2)
    expected_max = np.exp(best_name - best_name.max(1, keepdims=True))
    expected_max /= expected_max.sum(1, keepdims=True)
    run_max = _zeroshot(clip_work, tmp_path, "max")
    assert np.allclose(run_max.val_probs, expected_max, atol=1e-5)

    averaged = per_name.reshape(per_name.shape[0], len(classes), 2).mean(axis=2)
    averaged /= np.linalg.norm(averaged, axis=0, keepdims=True)
    mean_logits = clip.logit_scale * val_features @ averaged
    expected_mean = np.exp(mean_logits - mean_logits.max(1, keepdims=True))
    expected_mean /= expected_mean.sum(1, keepdims=True)
    run_mean = _zeroshot(clip_work, tmp_path, "mean")
    assert np.allclose(run_mean.val_probs, expected_mean, atol=1e-5)
    assert run_mean.run_id != run_max.run_id


def test_run_is_complete_on_disk_and_reproducible(clip_work, tmp_path: Path) -> None:
    dataset, split, work, _ = clip_work
    first = _zeroshot(clip_work, tmp_path)
    val_bytes = (first.path / "val_probs.csv").read_bytes()
    again = _zeroshot(clip_work, tmp_path)
    assert again.run_id == first.run_id
    assert (again.path / "val_probs.csv").read_bytes() == val_bytes
    loaded = load_run(first.run_id, work)
    assert list(loaded.val.columns) == ["seed_id", *dataset.classes, "label"]
    assert list(loaded.test["seed_id"]) == dataset.ids("test")
    assert np.allclose(loaded.val_probs.sum(axis=1), 1)
    assert loaded.config["prompts"]["combine"] == "mean" and loaded.config["split_id"] == split.split_id
    assert loaded.metrics["val_accuracy"] == float((loaded.val_predictions() == loaded.val_labels).mean())

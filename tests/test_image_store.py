"""The image store: decoded once and reused, never read when half-written, damaged or for another recipe, the same numbers as the files.

Small images (32 to 64 px), 1 to 3 epochs of a random-weight ``resnet18``, the tiny CLIP model.
A store build is counted by the images PIL opens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import cornkit.data.image_store as store_module
from cornkit.cli import main
from cornkit.clip.features import encode_images, extract_features
from cornkit.clip.model import ClipSpec, load_clip
from cornkit.clip.stored import clip_store
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.image_store import ENV_VAR, STORE_DIR, open_store, store_root
from cornkit.data.images import read_image
from cornkit.data.split import make_split
from cornkit.locks import LOCK_DIR
from cornkit.train.backbone import make_backbone
from cornkit.train.data import augment_settings, fold_frame, image_block, make_dataloaders
from cornkit.train.finetune import train_finetune
from cornkit.train.learner import predict_probs
from cornkit.train.saved_network import run_fold_learner
from cornkit.train.settings import FinetuneSettings
from cornkit.train.store_data import PadResize, StoreRows, pad_recipe, store_dataloaders, stored_size, training_store

RESNET = {"backbone": "timm:resnet18", "pretrained": "none", "size": 32, "batch_size": 16, "lr": 2e-3, "lp_epochs": 0, "tta": False}


@pytest.fixture(scope="module")
def dataset(corn_dir: Path) -> Dataset:
    return load_dataset(corn_dir)


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every image file PIL opens from now on."""
    opened: list[str] = []
    real_open = Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    return opened


def n_images(dataset: Dataset) -> int:
    return len(dataset.train) + len(dataset.test)


def test_built_once_then_reused_without_decoding(dataset, tmp_path, opens, capsys):
    recipe = pad_recipe(32)
    store = open_store(dataset, recipe, tmp_path)
    assert store is not None and len(opens) == n_images(dataset)
    assert "decoding 200 images once" in capsys.readouterr().err
    path = dataset.image_paths("test")[7]
    array, rows = store.locate([path])
    np.testing.assert_array_equal(array[rows[0]], PadResize(stored_size(32))(read_image(path, "test")))
    opens.clear()
    again = open_store(dataset, recipe, tmp_path)
    assert again is not None and again.key == store.key and opens == []
    assert f"reusing {store.path}" in capsys.readouterr().err


def test_another_recipe_or_an_edited_image_makes_another_store(dataset, corn_copy, tmp_path):
    store = open_store(dataset, pad_recipe(32), tmp_path)
    bigger = open_store(dataset, pad_recipe(64), tmp_path)
    assert store is not None and bigger is not None
    assert bigger.path != store.path and bigger.arrays["test"].shape == (len(dataset.test), stored_size(64), stored_size(64), 3)
    copy = load_dataset(corn_copy)  # copied with its modification times: the same images
    assert open_store(copy, pad_recipe(32), tmp_path).path == store.path  # type: ignore[union-attr]
    image = copy.image_paths("train")[0]
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert open_store(copy, pad_recipe(32), tmp_path).path != store.path  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", ["truncated", "other recipe", "no meta"])
def test_a_damaged_store_is_rebuilt_with_one_line(dataset, tmp_path, opens, capsys, damage):
    store = open_store(dataset, pad_recipe(32), tmp_path)
    assert store is not None
    expected = np.array(store.arrays["train"])
    if damage == "truncated":
        with open(store.path / "train.npy", "r+b") as handle:
            handle.truncate((store.path / "train.npy").stat().st_size - 1000)
    elif damage == "other recipe":
        meta = json.loads((store.path / "meta.json").read_text())
        (store.path / "meta.json").write_text(json.dumps({**meta, "key": "0123456789abcdef"}))
    else:
        (store.path / "meta.json").unlink()
    capsys.readouterr()
    opens.clear()
    rebuilt = open_store(dataset, pad_recipe(32), tmp_path)
    notes = [line for line in capsys.readouterr().err.splitlines() if "not usable" in line]
    assert len(notes) == 1 and str(store.path) in notes[0]
    assert rebuilt is not None and len(opens) == n_images(dataset)
    np.testing.assert_array_equal(rebuilt.arrays["train"], expected)


SLOW_BUILD = """
import json, sys, time
from pathlib import Path
import numpy as np
from cornkit.data.dataset import load_dataset
from cornkit.data.image_store import StoreRecipe, open_store

name, size, description = json.loads(sys.argv[3])

def prepare(image):
    time.sleep(0.05)
    return np.asarray(image.convert("RGB").resize((size, size)))

print("building", flush=True)
open_store(load_dataset(Path(sys.argv[1])), StoreRecipe(name, size, description, prepare), Path(sys.argv[2]))
"""


def test_a_killed_build_leaves_nothing_that_is_read(dataset, corn_dir, tmp_path, opens):
    """A builder killed mid-write (the same recipe, made slow) leaves a temporary that is reaped, never read."""
    recipe = pad_recipe(32)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-c", SLOW_BUILD, str(corn_dir), str(tmp_path), json.dumps([recipe.name, recipe.size, recipe.description])]
    builder = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert builder.stdout is not None and builder.stdout.readline().strip() == b"building"
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".tmp" and (p / "train.npy").exists() for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline, "the build never started writing"
        time.sleep(0.05)
    time.sleep(0.3)
    builder.send_signal(signal.SIGKILL)
    builder.wait()
    store = open_store(dataset, recipe, tmp_path)
    assert store is not None and len(opens) == n_images(dataset)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != LOCK_DIR) == [store.path.name]
    np.testing.assert_array_equal(store.arrays["test"][-1], recipe.prepare(read_image(dataset.image_paths("test")[-1], "test")))


def test_no_room_on_the_disk_reads_the_files(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(store_module, "_free_bytes", lambda folder: 1 << 20)
    assert open_store(dataset, pad_recipe(32), tmp_path / "stores") is None
    assert "need 1.0 MB, but" in capsys.readouterr().err
    assert not any(p.name.startswith("pad-") for p in (tmp_path / "stores").iterdir())
    split = make_split(dataset, tmp_path / "work")
    run = train_finetune(dataset, split, tmp_path / "work", FinetuneSettings(**RESNET, epochs=1, monitor_frac=0))
    err = capsys.readouterr().err
    assert run.metrics["image_store"] is None and "reading the image files instead" in err and "checking validation and test images" in err


def test_where_the_store_lives(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(store_module, "in_kaggle_kernel", lambda: False)
    assert store_root("auto", tmp_path) == tmp_path / STORE_DIR
    assert store_root("none", tmp_path) is None and store_root(str(tmp_path / "x"), tmp_path) == tmp_path / "x"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert store_root("auto", tmp_path) == tmp_path / "env" and store_root("none", tmp_path) is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setattr(store_module, "in_kaggle_kernel", lambda: True)
    assert "/kaggle/working" not in str(store_root("auto", "/kaggle/working/work"))


def test_features_from_the_store_equal_features_from_the_files(dataset, tmp_path, opens):
    paths = dataset.image_paths("test")
    for flip_tta in (False, True):
        clip = load_clip(ClipSpec("cornkit-tiny-clip", "none", flip_tta=flip_tta), "cpu")
        store = clip_store(dataset, clip.preprocess, tmp_path)
        assert store is not None
        opens.clear()
        from_store = encode_images(clip, paths, batch_size=16, num_workers=0, store=store)
        assert opens == []
        np.testing.assert_allclose(from_store, encode_images(clip, paths, batch_size=16, num_workers=0), atol=1e-5, rtol=0)
    opens.clear()
    features = extract_features(dataset, tmp_path / "work", ClipSpec("cornkit-tiny-clip", "none"), num_workers=0, image_store=str(tmp_path))
    assert opens == [] and features.train.shape[0] == len(dataset.train)


def test_a_finetune_s_batches_from_the_store_are_its_images(dataset, tmp_path):
    """What a fine-tune reads from the store is each row's own image, its own label, upright and padded as the files are.

    Validation batches, transforms and normalisation included, equal exactly those of the same
    pipeline reading the image files (fastai's own pad-resize to the store's side); shuffled
    training batches, before their random augmentation, hold each sampled row's file, pad-resized,
    and its label. Images of other rows, a transposed or flipped array, another padding or
    labels out of step with the images all fail here.
    """
    split = make_split(dataset, tmp_path / "work")
    frame = fold_frame(dataset, split, 0)  # the split's training rows, then its validation rows (fastai's valid set)
    settings = FinetuneSettings(**RESNET, epochs=1)
    backbone, cpu = make_backbone(settings, dataset.classes), torch.device("cpu")
    store = training_store(dataset, backbone.size, tmp_path / "stores")
    assert store is not None
    stored = make_dataloaders(frame, dataset.classes, settings, backbone, cpu, dataset.id_column, store)
    no_store = StoreRows(None)  # the same block and loaders, every image read from its file
    block = image_block(dataset.classes, backbone.size, backbone.mean, backbone.std, augment_settings(settings), dataset.id_column, no_store)
    files = store_dataloaders(block, frame, no_store, None, bs=settings.batch_size, device=cpu, num_workers=0)
    assert stored.valid._source() is not None and files.valid._source() is None  # one reads the store, the other the files
    n_valid = 0
    for (x_store, y_store), (x_files, y_files) in zip(stored.valid, files.valid, strict=True):
        torch.testing.assert_close(x_store, x_files, atol=1e-6, rtol=0)
        assert torch.equal(y_store, y_files)
        n_valid += len(y_store)
    assert n_valid == len(split.valid_ids(0))

    train = stored.train
    items = train.dataset.items.reset_index(drop=True)
    samples = list(train.get_idxs())
    assert samples != sorted(samples)  # shuffled: a batch gathers store rows out of order
    batches = list(train.create_batches(samples))  # as gathered from the store, before the random augmentation
    images = torch.cat([x for x, _ in batches]).permute(0, 2, 3, 1).numpy()
    labels = torch.cat([y for _, y in batches]).numpy()
    assert len(images) >= len(samples) - settings.batch_size
    prepare = PadResize(stored_size(settings.size))
    for k, i in enumerate(samples[: len(images)]):
        np.testing.assert_array_equal(images[k], prepare(read_image(Path(items.loc[i, "path"]), "test")), err_msg=f"training sample {k} (row {i})")
    assert [dataset.classes[c] for c in labels] == list(items.loc[samples[: len(images)], "label"])


@pytest.mark.slow
def test_finetune_from_the_store_matches_the_files_and_a_second_run_decodes_nothing(dataset, tmp_path, opens, capsys):
    """A Run trained from the store predicts its validation rows as its network does on their files, to float rounding.

    (Store and files Runs see other inputs, 8/7 pad then a device resize against a direct resize, so
    their accuracies are not compared: on 32 rows any tolerance loose enough for that catches nothing.)
    """
    split = make_split(dataset, tmp_path / "work")
    settings = FinetuneSettings(**RESNET, epochs=2, seed=1)
    stored = train_finetune(dataset, split, tmp_path / "work", settings)
    assert "decoding 200 images once" in capsys.readouterr().err
    files = train_finetune(dataset, split, tmp_path / "files", FinetuneSettings(**RESNET, epochs=2, seed=1, image_store="none"))
    # The probabilities the Run recorded from the store are its network's on the image files, pad-resized as the store did.
    images = dataset.train.set_index(dataset.id_column).loc[stored.val_ids, dataset.image_column]
    valid = pd.DataFrame({"id": stored.val_ids, "path": [str(dataset.root / p) for p in images]})
    from_files = predict_probs(run_fold_learner(stored.path, 0, valid), valid, use_tta=False)
    np.testing.assert_allclose(from_files, stored.val_probs, atol=1e-5, rtol=0)
    assert "image_store" not in stored.config  # which store is a detail; that the images came from one is not (another input, another Run)
    assert (stored.config["images_from"], files.config["images_from"]) == ("store", "files") and stored.run_id != files.run_id
    assert stored.metrics["image_store"]["key"] in str(next((tmp_path / "work" / STORE_DIR).glob("pad-*")))
    assert files.metrics["image_store"] is None
    opens.clear()
    flags = ["--backbone", "timm:resnet18", "--pretrained", "none", "--size", "32", "--batch-size", "16", "--lr", "2e-3", "--lp-epochs", "0"]
    code = main(["finetune", "--data", str(dataset.root), "--work", str(tmp_path / "work"), *flags, "--epochs", "1", "--no-tta", "--seed", "1"])
    assert code == 0 and opens == []
    assert "image store: reusing" in capsys.readouterr().err
    first = pd.DataFrame({"id": dataset.ids("test")[:1], "path": [str(dataset.image_paths("test")[0])]})
    learn = run_fold_learner(stored.path, 0, first)
    assert learn.dls.train.rows.store is None  # a rebuilt network reads image files unless given the store
    label, _, probs = learn.predict(dataset.image_paths("test")[0])
    assert label in dataset.classes and probs.shape == (len(dataset.classes),)

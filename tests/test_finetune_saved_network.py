"""A fine-tune's networks are saved as safetensors weights plus a JSON config, and ``cornkit predict`` rebuilds them without pickle.

Offline on the CPU: a random-weight ``resnet18`` at 32 pixels (timm's head and fastai's), the
kit's tiny random-weight CLIP tower, one epoch each. Predicting the Run's own test set again
must give its ``test_probs.csv`` while every way of unpickling is made to fail.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import fastai.learner
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from cornkit.clip.model import TINY_MODEL
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.split import Split, make_split
from cornkit.data.synth import make_synthetic_corn
from cornkit.errors import CornkitError
from cornkit.heads.predict import Images, predict_run
from cornkit.runs.model import MANIFEST
from cornkit.runs.run import Run
from cornkit.train.finetune import train_finetune
from cornkit.train.saved_network import load_network, read_config, run_fold_learner
from cornkit.train.settings import FinetuneSettings

pytestmark = pytest.mark.slow  # trains small backbones

RESNET = {"backbone": "timm:resnet18", "pretrained": "none", "size": 32, "batch_size": 16, "lr": 2e-3, "epochs": 1, "lp_epochs": 0}
CLIP = {"backbone": f"clip:{TINY_MODEL}", "pretrained": "none", "batch_size": 16, "lr": 1e-3, "epochs": 1, "lp_epochs": 0, "tta": False}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset(make_synthetic_corn(tmp_path_factory.mktemp("corn"), n_train=96, n_test=16, seed=3).root)


@pytest.fixture(scope="module")
def holdout(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Split, Path]:
    work = tmp_path_factory.mktemp("work")
    return make_split(dataset, work), work


@pytest.fixture(scope="module")
def resnet(dataset: Dataset, holdout: tuple[Split, Path]) -> Run:
    """A timm-head fine-tune read from the image store, predicted with TTA (the strictest reproduction)."""
    split, work = holdout
    return train_finetune(dataset, split, work, FinetuneSettings(**RESNET, tta=True))


def refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on every way a model could be unpickled raises (training itself reloads its best epoch with torch.load)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fine-tune's model was unpickled")

    def torch_load(*args: object, weights_only: bool | None = None, **kwargs: object) -> None:
        raise AssertionError(f"torch.load was called (weights_only={weights_only})")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", torch_load)
    monkeypatch.setattr(fastai.learner, "load_learner", refuse)
    monkeypatch.setattr(fastai.learner, "load_model", refuse)


def _test_rows(dataset: Dataset, n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": dataset.ids("test")[:n], "path": [str(p) for p in dataset.image_paths("test")[:n]]})


def _predict_test_set(run: Run, dataset: Dataset, work: Path) -> np.ndarray:
    return predict_run(run, Images.test_set(dataset), work)


def test_the_run_folder_holds_safetensors_and_a_config_and_no_pickle(resnet: Run) -> None:
    assert sorted(p.name for p in resnet.path.glob("network-*")) == ["network-fold0.json", "network-fold0.safetensors"]
    assert not list(resnet.path.glob("*.pkl"))
    manifest = json.loads((resnet.path / MANIFEST).read_text())
    assert {"network-fold0.safetensors", "network-fold0.json"} == set(manifest["files"])
    assert all(len(sha) == 64 for sha in manifest["files"].values())
    assert manifest["details"]["networks"] == [{"weights": "network-fold0.safetensors", "config": "network-fold0.json"}]
    assert "learners" not in manifest["details"]
    config = read_config(resnet.path / "network-fold0.json")
    assert (config["backbone"], config["head"], config["size"], config["classes"]) == ("timm:resnet18", "timm", 32, list(resnet.classes))
    assert config["augment"] == {"max_lighting": 0.1, "max_warp": 0.1} and config["tta"] is True and config["image_store"]["recipe"]["size"] == 40


def test_the_weights_file_holds_only_the_models_tensors(resnet: Run) -> None:
    """No cornkit class (StoreRows, StoredImage) is needed: the file is tensors, named as the model's state_dict."""
    weights = resnet.path / "network-fold0.safetensors"
    with safe_open(str(weights), framework="pt") as opened:
        keys = set(opened.keys())
        assert all(isinstance(opened.get_tensor(k), torch.Tensor) for k in keys)
    model = load_network(weights, read_config(resnet.path / "network-fold0.json"))
    assert keys == set(model.state_dict())


def test_predict_reproduces_the_runs_test_probabilities_without_unpickling(resnet: Run, dataset: Dataset, holdout, monkeypatch) -> None:
    _, work = holdout
    refuse_unpickling(monkeypatch)
    np.testing.assert_allclose(_predict_test_set(resnet, dataset, work), resnet.test_probs, atol=1e-5)


def test_predict_reproduces_the_fastai_head_read_from_files(dataset: Dataset, holdout, monkeypatch: pytest.MonkeyPatch) -> None:
    split, work = holdout
    run = train_finetune(dataset, split, work, FinetuneSettings(**RESNET, head="fastai", drop_path=0.0, tta=True, image_store="none"))
    assert read_config(run.path / "network-fold0.json")["image_store"] is None
    refuse_unpickling(monkeypatch)
    np.testing.assert_allclose(_predict_test_set(run, dataset, work), run.test_probs, atol=1e-5)


def test_predict_reproduces_a_clip_tower_without_its_prompts_or_a_hub(dataset: Dataset, holdout, monkeypatch: pytest.MonkeyPatch) -> None:
    split, work = holdout
    run = train_finetune(dataset, split, work, FinetuneSettings(**CLIP, drop_path=0.1, wise=0.5))
    config = read_config(run.path / "network-fold0.json")
    assert config["clip"]["preprocess"]["size"] and config["clip"]["combine"] in ("mean", "max")
    refuse_unpickling(monkeypatch)
    import cornkit.clip.prompts
    import cornkit.train.clip_tower

    monkeypatch.setattr(cornkit.train.clip_tower, "load_clip", lambda *a, **k: pytest.fail("the rebuild loaded CLIP weights"))
    monkeypatch.setattr(cornkit.clip.prompts, "load_prompt_file", lambda *a, **k: pytest.fail("the rebuild read prompts"))
    np.testing.assert_allclose(_predict_test_set(run, dataset, work), run.test_probs, atol=1e-5)


def test_export_learner_also_writes_a_loadable_learner_and_keeps_the_run_id(resnet: Run, dataset: Dataset, holdout) -> None:
    split, work = holdout
    exported = train_finetune(dataset, split, work / "exported", FinetuneSettings(**RESNET, tta=True, export_learner=True))
    assert exported.run_id == resnet.run_id and "export_learner" not in exported.config
    pkl = exported.path / "learner-fold0.pkl"
    assert pkl.is_file() and (exported.path / "network-fold0.safetensors").is_file()
    manifest = json.loads((exported.path / MANIFEST).read_text())
    assert "learner-fold0.pkl" in manifest["files"] and manifest["details"]["learners"] == ["learner-fold0.pkl"]
    learn = fastai.learner.load_learner(pkl)
    label, _, probs = learn.predict(str(dataset.image_paths("test")[0]))
    assert label in dataset.classes and probs.shape == (len(dataset.classes),)
    saved = run_fold_learner(exported.path, 0, _test_rows(dataset, 1)).model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in learn.model.state_dict().items())


def test_a_rebuilt_learner_predicts_a_new_image(resnet: Run, dataset: Dataset) -> None:
    learn = run_fold_learner(resnet.path, 0, _test_rows(dataset, 1))
    assert list(learn.dls.vocab) == list(dataset.classes)
    label, _, probs = learn.predict(str(dataset.image_paths("test")[0]))
    assert label in dataset.classes and probs.shape == (len(dataset.classes),)
    preds, _ = learn.get_preds(dl=learn.dls.test_dl(_test_rows(dataset, 3)))
    assert preds.shape == (3, len(dataset.classes))


def test_a_run_with_only_pickled_learners_is_refused_with_one_line(resnet: Run, dataset: Dataset, holdout, tmp_path: Path) -> None:
    """The old layout (``learners`` alone in the manifest) is refused: train again."""
    import shutil

    from cornkit.hashing import file_sha256
    from cornkit.runs.run import load_run

    _, work = holdout
    old_work = tmp_path / "work"
    folder = Path(shutil.copytree(resnet.path, old_work / resnet.path.relative_to(work)))
    (folder / "learner-fold0.pkl").write_bytes(b"not loaded")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["details"] = {k: v for k, v in manifest["details"].items() if k != "networks"} | {"learners": ["learner-fold0.pkl"]}
    manifest["files"] = {"learner-fold0.pkl": file_sha256(folder / "learner-fold0.pkl")}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    old = load_run(resnet.run_id, old_work)
    with pytest.raises(CornkitError, match=r"pickled fastai learners.*train the Run again") as refused:
        _predict_test_set(old, dataset, old_work)
    assert "\n" not in str(refused.value)

"""Fit apart from predict: a saved Run's model predicts its own test set again, a folder of images, and refuses what it should not load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blend_checks import CLIP
from conftest import validation_rows
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.heads.predict import Images, predict_run
from cornkit.heads.registry import run_head
from cornkit.runs.model import MANIFEST
from cornkit.runs.run import Run, load_run, make_run, save_run


@pytest.fixture(scope="module")
def probe(clip_work) -> Run:
    dataset, split, work, _ = clip_work
    return run_head("probe", dataset, split, work, **CLIP, cs="0.1,10", cv_folds=3, alpha="auto")


def _copy(run: Run, tmp_path: Path) -> Run:
    """A private copy of a saved Run (same work folder layout) that a test may damage."""
    assert run.path is not None
    work = tmp_path / "work"
    shutil.copytree(run.path, work / "runs" / run.run_id)
    return load_run(run.run_id, work)


def test_predict_reproduces_the_runs_own_test_probabilities_from_the_command_line(probe, clip_work, capsys) -> None:
    dataset, _, work, _ = clip_work
    assert main(["predict", probe.run_id, "--data", str(dataset.root), "--work", str(work)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    folder = Path(lines[-1])
    assert "largest difference from its test_probs.csv" in lines[-2]
    written = pd.read_csv(folder / "test_probs.csv", dtype={"seed_id": str})
    np.testing.assert_allclose(written[list(probe.classes)].to_numpy(), probe.test_probs, atol=1e-6)
    assert written["seed_id"].tolist() == probe.test_ids.tolist()
    submission = pd.read_csv(folder / "submission.csv", dtype=str)
    assert list(submission.columns) == list(dataset.sample_submission.columns)
    assert submission["label"].tolist() == list(probe.test_predictions())


def test_a_folder_of_images_is_predicted_as_the_same_images_in_the_test_set(probe, clip_work, tmp_path) -> None:
    dataset, _, work, _ = clip_work
    folder = tmp_path / "new"
    chosen = dataset.image_paths("test")[:3]
    for path in chosen:
        (folder / "batch").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / "batch" / path.name)
    images = Images.folder(folder)
    assert images.ids.tolist() == sorted(f"batch/{p.name}" for p in chosen)
    probs = predict_run(probe, images, work)
    by_name = dict(zip((p.name for p in dataset.image_paths("test")), probe.test_probs, strict=True))
    expected = np.stack([by_name[name.split("/")[1]] for name in images.ids])
    np.testing.assert_allclose(probs, expected, atol=1e-5)  # embedded anew, not read from the cache: float32 rounding only


def test_a_k_fold_run_predicts_with_the_mean_of_its_fold_models(kfold_work) -> None:
    dataset, split, work = kfold_work
    run = run_head("gda", dataset, split, work, **CLIP)
    assert len(run.saved_model().load("model.joblib")) == 3
    np.testing.assert_allclose(predict_run(run, Images.test_set(dataset), work), run.test_probs, atol=1e-6)


def test_a_model_file_changed_after_the_run_is_refused_before_it_is_loaded(probe, clip_work, tmp_path, monkeypatch) -> None:
    dataset = clip_work[0]
    run = _copy(probe, tmp_path)
    assert run.path is not None
    with (run.path / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    loaded: list[str] = []
    monkeypatch.setattr("joblib.load", lambda *args, **kwargs: loaded.append("loaded"))
    with pytest.raises(CornkitError, match=r"does not match the SHA-256 recorded in model\.json"):
        predict_run(run, Images.test_set(dataset), tmp_path / "work")
    assert loaded == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {**m, "format": 99}, r"model format 99, but this cornkit .* reads format 1"),
        (lambda m: {**m, "classes": list(reversed(m["classes"]))}, "do not match the Run's"),
    ],
)
def test_another_model_format_or_class_list_is_refused_in_one_line(probe, tmp_path, change, message) -> None:
    run = _copy(probe, tmp_path)
    assert run.path is not None
    manifest = run.path / MANIFEST
    manifest.write_text(json.dumps(change(json.loads(manifest.read_text()))))
    with pytest.raises(CornkitError, match=message):
        run.saved_model()


def test_a_run_without_a_model_says_how_to_get_one(tmp_path, capsys) -> None:
    run = make_run(
        approach="imported",
        model="m",
        classes=("a", "b"),
        split=validation_rows([1, 2], ["a", "b"]),
        val_probs=np.array([[0.9, 0.1], [0.2, 0.8]]),
        test_ids=[3],
        test_probs=np.array([[0.5, 0.5]]),
        config={},
        seed=0,
    )
    save_run(run, tmp_path)
    assert main(["predict", run.run_id, "--images", str(tmp_path), "--work", str(tmp_path)]) == 2
    assert "keeps no fitted model" in capsys.readouterr().err


def test_predict_needs_exactly_one_source(probe, clip_work, capsys) -> None:
    work = clip_work[2]
    assert main(["predict", probe.run_id, "--work", str(work)]) == 2
    assert "give --data DIR" in capsys.readouterr().err

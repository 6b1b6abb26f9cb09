"""Building predict kernels: offline by default, so refused at build time when what they need would come from the internet.

A predict kernel on an ensemble kernel needs what the head kernels behind the ensemble needed
(open_clip for CLIP heads, their CLIP weights), not what the ensemble's own CPU-only notebook did.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, one_line_error

Capsys = pytest.CaptureFixture[str]


def _build(capsys: Capsys, kernels: Path, *argv: str) -> tuple[int, str, str]:
    return cli(capsys, "kernels", "build", *argv, "--kernels", kernels, "--user", "tester")


def test_an_offline_predict_kernel_on_an_ensemble_must_bring_what_its_members_need(tmp_path: Path, capsys: Capsys) -> None:
    kernels = tmp_path / "kernels"
    for argv in (("probe", "--name", "a"), ("gda", "--name", "b"), ("ensemble", "--name", "blend", "--from", "a,b")):
        assert _build(capsys, kernels, *argv)[0] == 0
    predict = ("predict", "--name", "infer", "--from", "blend")
    code, _, err = _build(capsys, kernels, *predict)
    one_line_error(code, err, "internet off", "kernel a", "open_clip_torch", "--dataset-source")
    code, _, err = _build(capsys, kernels, *predict, "--dataset-source", "tester/wheels")
    one_line_error(code, err, "kernel a was made with --pretrained laion2b_s32b_b79k", "--pretrained /kaggle/input/")
    code, _, err = _build(capsys, kernels, *predict, "--dataset-source", "tester/wheels", "--head-args", "--pretrained hub-tag")
    one_line_error(code, err, "--pretrained hub-tag", "cannot download")
    assert not (kernels / "infer").exists()

    weights = "/kaggle/input/vit-b-32/open_clip_pytorch_model.bin"
    assert _build(capsys, kernels, *predict, "--dataset-source", "tester/wheels", "--pretrained", weights)[0] == 0
    meta = json.loads((kernels / "infer" / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and meta["enable_gpu"] is True and meta["dataset_sources"] == ["tester/wheels"]
    notebook = (kernels / "infer" / meta["code_file"]).read_text()
    assert "open_clip_torch" in notebook and json.dumps(weights)[1:-1] in notebook
    assert _build(capsys, kernels, "predict", "--name", "online", "--from", "blend", "--internet")[0] == 0


def test_an_offline_predict_kernel_on_a_fine_tune_needs_no_weights_and_a_predict_kernel_is_no_source(tmp_path: Path, capsys: Capsys) -> None:
    """An exported learner holds its weights, so a fine-tune's predict kernel builds offline; a predict kernel leaves no Run to predict with."""
    kernels = tmp_path / "kernels"
    assert _build(capsys, kernels, "convnext")[0] == 0
    assert _build(capsys, kernels, "predict", "--name", "infer", "--from", "convnext")[0] == 0
    meta = json.loads((kernels / "infer" / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and "open_clip_torch" not in (kernels / "infer" / meta["code_file"]).read_text()
    code, _, err = _build(capsys, kernels, "predict", "--name", "again", "--from", "infer")
    one_line_error(code, err, "--from infer", "give its source (convnext)")

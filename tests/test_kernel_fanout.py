"""Many kernels: variants of one head, fanned out within Kaggle's GPU session limit, their Runs brought back and ensembled.

The official client talks to the stand-in Kaggle API (``kaggle_standin.py``), whose kernels run
for a fraction of a second and which refuses a third concurrent GPU session as Kaggle does.
The ensemble kernel's notebook is executed once, offline, on Runs laid out as Kaggle mounts
other kernels' outputs (one source in each layout).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import cli, one_line_error
from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split, make_split
from cornkit.defaults import COMPETITION
from cornkit.errors import CornkitError
from cornkit.kaggle.inputs import find_kernel_runs
from kaggle_standin import StandinKaggle
from kernel_outputs import kernel_output

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORNKIT_KERNEL_POLL_S", "0.02")


def _build(capsys: Capsys, kernels: Path, name: str, *head_args: str) -> dict:
    code, _, err = cli(capsys, "kernels", "build", "probe", "--name", name, "--kernels", kernels, "--head-args", " ".join(head_args))
    assert code == 0, err
    return json.loads((kernels / name / "kernel-metadata.json").read_text())


def test_variants_fan_out_within_two_gpu_sessions(standin: StandinKaggle, fast_polls: None, tmp_path: Path, capsys: Capsys) -> None:
    kernels = tmp_path / "kernels"
    metas = [_build(capsys, kernels, "a", "--cv-folds", "3"), _build(capsys, kernels, "b", "--cv-folds", "4"), _build(capsys, kernels, "c")]
    assert [m["id"].split("/")[1] for m in metas] == ["cornkit-clip-linear-probe-a", "cornkit-clip-linear-probe-b", "cornkit-clip-linear-probe-c"]
    assert all(m["enable_internet"] is True and m["enable_gpu"] is True for m in metas)
    record = json.loads((kernels / "a" / "cornkit-kernel.json").read_text())
    assert (record["head"], record["name"], record["flags"], record["version"]) == ("probe", "a", ["--cv-folds", "3"], None)
    code, _, err = cli(capsys, "kernels", "build", "probe", "--name", "d", "--kernels", kernels, "--head-args", "--cv-folds 1")
    one_line_error(code, err, "--cv-folds", "cornkit probe --help")
    code, _, err = cli(capsys, "kernels", "build", "probe", "--name", "d", "--kernels", kernels, "--head-args", "--epochs 3")
    one_line_error(code, err, "unrecognized arguments: --epochs 3")
    code, _, err = cli(capsys, "kernels", "build", "probe", "--name", "d", "--kernels", kernels, "--head-args", "--data x")
    one_line_error(code, err, "--data", "sets --data itself")
    assert not (kernels / "d").exists()

    standin.kernel_run_s = 0.4
    code, out, err = cli(capsys, "kernels", "push", "a", "b", "c", "--kernels", kernels, "--max-running", "2")
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("GPU quota: 26.0 h left of 30.0 h this week") and "not counted: a, b, c" in lines[0]
    assert "c: waiting to push: 2 GPU kernels running (--max-running 2)" in lines
    finished = next(i for i, line in enumerate(lines) if line in ("a: COMPLETE", "b: COMPLETE"))
    assert lines.index(next(line for line in lines if line.startswith("c: pushed"))) > finished, "the third waits for one to finish"
    assert standin.most_gpu_running == 2 and standin.refusals == 0
    assert out.splitlines()[-1].split() == [f"http://localhost/code/{m['id']}" for m in metas]

    code, out, err = cli(capsys, "kernels", "status", "--all", "--kernels", kernels, "--wait", "10")
    assert code == 0, err
    assert [line.split()[-1] for line in out.splitlines()[-3:]] == ["COMPLETE"] * 3
    assert all(json.loads((kernels / n / "cornkit-kernel.json").read_text())["run_seconds"] > 0 for n in "abc")

    # Kaggle's own refusal: --max-running 3 lets cornkit try a third GPU session; it waits and retries.
    code, out, err = cli(capsys, "kernels", "push", "a", "b", "c", "--kernels", kernels, "--max-running", "3")
    assert code == 0, err
    assert "c: waiting to push: Kaggle refused kernel cornkit-tester/cornkit-clip-linear-probe-c: Maximum batch GPU session count of 2 reached." in err
    assert standin.refusals >= 1 and standin.most_gpu_running == 2
    assert [standin.kernels[m["id"]]["version"] for m in metas] == [2, 2, 2]
    code, out, err = cli(capsys, "kernels", "list", "--kernels", kernels)
    assert code == 0, err
    assert out.splitlines()[1].split()[:4] == ["a", "probe", "--cv-folds", "3"] and " 2 " in out.splitlines()[1]

    code, _, err = cli(capsys, "kernels", "push", "a", "b", "--kernels", kernels, "--max-running", "1", "--timeout", "0")
    one_line_error(code, err, "--timeout 0 s passed and b could not be pushed yet", "cornkit kernels status --all --wait")
    standin.gpu_quota_used_s = standin.gpu_quota_total_s
    pushes = len(standin.calls("SaveKernel"))
    code, _, err = cli(capsys, "kernels", "push", "a", "b", "c", "--kernels", kernels)
    one_line_error(code, err, "more than the 0.0 h of GPU quota left", "--force")
    assert len(standin.calls("SaveKernel")) == pushes


def test_kernel_runs_come_back_checked_and_never_overwritten(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: Capsys) -> None:
    kernels, work = tmp_path / "kernels", tmp_path / "work"
    assert cli(capsys, "split", "--data", corn, "--work", work)[0] == 0
    metas = {name: _build(capsys, kernels, name) for name in "abcde"}
    assert cli(capsys, "kernels", "push", *metas, "--kernels", kernels, "--max-running", "5")[0] == 0
    ids = {}
    for name, meta in metas.items():
        ids[name], standin.kernel_outputs[meta["id"]] = kernel_output(corn, work, name, rng_seed=ord(name))

    code, out, err = cli(capsys, "kernels", "output", "a", "b", "--kernels", kernels, "--data", corn, "--work", work)
    assert code == 0, err
    assert out.splitlines()[-1].split() == [ids["a"], ids["b"]]
    assert f"a: imported Run {ids['a']} from kernel {metas['a']['id']} version 1" in out
    runs = work / "runs"
    assert json.loads((runs / ids["a"] / "origin.json").read_text())["kernel"] == metas["a"]["id"]
    assert not (runs / ids["a"] / "probe.joblib").exists(), "the model comes only with --with-model"
    assert not any(r.path.endswith("probe.joblib") for r in standin.requests), "and is not even downloaded"
    code, out, _ = cli(capsys, "runs", "--work", work)
    assert code == 0 and f"from kernel {metas['b']['id']} version 1" in out
    code, out, err = cli(capsys, "ensemble", ids["a"], ids["b"], "--work", work, "--data", corn)
    assert code == 0, err

    code, out, _ = cli(capsys, "kernels", "output", "a", "--kernels", kernels, "--data", corn, "--work", work)
    assert code == 0 and "is already in" in out and "nothing changed" in out
    assert cli(capsys, "kernels", "push", "a", "--kernels", kernels)[0] == 0
    same_id, standin.kernel_outputs[f"{metas['a']['id']}/v2"] = kernel_output(corn, work, "a", rng_seed=99)
    assert same_id == ids["a"]
    code, out, err = cli(capsys, "kernels", "output", "a", "--kernels", kernels, "--data", corn, "--work", work, "--with-model")
    assert code == 0, err
    assert f"imported Run {ids['a']}-v2 from kernel {metas['a']['id']} version 2; {ids['a']} is version 1 of {metas['a']['id']} and stays as it was" in out
    assert (runs / f"{ids['a']}-v2" / "probe.joblib").read_bytes() == b"a fitted model"
    assert (runs / ids["a"] / "val_probs.csv").read_bytes() != (runs / f"{ids['a']}-v2" / "val_probs.csv").read_bytes()

    before = sorted(p.name for p in runs.iterdir())
    _, standin.kernel_outputs[metas["c"]["id"]] = kernel_output(corn, work, "c", 3, split_id="0123456789ab")
    split_id = load_split(work).split_id
    code, _, err = cli(capsys, "kernels", "output", "c", "--kernels", kernels, "--data", corn, "--work", work)
    one_line_error(code, err, "made on split 0123456789ab", f"the local split (split.json) is {split_id}", "Nothing was imported")
    _, standin.kernel_outputs[metas["d"]["id"]] = kernel_output(corn, work, "d", 4, fingerprint="feedfacecafe")
    code, _, err = cli(capsys, "kernels", "output", "d", "--kernels", kernels, "--data", corn, "--work", work)
    one_line_error(code, err, "made from data feedfacecafe", f"is data {load_dataset(corn, check_images=False).fingerprint}")
    damaged = standin.kernel_outputs[metas["e"]["id"]]
    damaged[f"cornkit-runs/{ids['e']}/val_probs.csv"] = damaged[f"cornkit-runs/{ids['e']}/val_probs.csv"][:-40]
    code, _, err = cli(capsys, "kernels", "output", "a", "e", "--kernels", kernels, "--data", corn, "--work", work)
    one_line_error(code, err, f"the output of kernel {metas['e']['id']} version 1 is damaged", "fetch it again")
    assert sorted(p.name for p in runs.iterdir()) == before, "nothing half-imported"


def _mount(files: dict, folder: Path) -> None:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)


def test_kernel_runs_are_found_in_either_mount_layout(tmp_path: Path, corn: Path) -> None:
    work = tmp_path / "work"
    make_split(load_dataset(corn, check_images=False), work)
    run_a, files_a = kernel_output(corn, work, "a", 1)
    run_b, files_b = kernel_output(corn, work, "b", 2)
    root = tmp_path / "input"
    _mount(files_a, root / "slug-aaaa")
    _mount(files_b, root / "notebooks" / "someone" / "slug-bbbb")
    found = find_kernel_runs(root, ["me/slug-aaaa", "someone/slug-bbbb"])
    assert [Path(p).name for p in found] == [run_a, run_b]
    with pytest.raises(CornkitError, match="no output of kernel me/slug-cccc under"):
        find_kernel_runs(root, ["me/slug-cccc"])
    _mount(files_a, root / "notebooks" / "me" / "slug-aaaa")
    with pytest.raises(CornkitError, match="mounted more than once"):
        find_kernel_runs(root, ["me/slug-aaaa"])
    _, files_c = kernel_output(corn, work, "c", 3, split_id="0123456789ab")
    _mount(files_c, root / "slug-cccc")
    with pytest.raises(CornkitError, match="on split 0123456789ab"):
        find_kernel_runs(root, ["someone/slug-bbbb", "me/slug-cccc"])


@pytest.mark.slow
def test_ensemble_kernel_writes_the_submission_cornkit_ensemble_writes(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: Capsys) -> None:
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    kernels, work, submissions = tmp_path / "kernels", tmp_path / "work", tmp_path / "submissions"
    assert cli(capsys, "split", "--data", corn, "--work", work)[0] == 0
    metas = {name: _build(capsys, kernels, name) for name in "ab"}
    code, _, err = cli(capsys, "kernels", "build", "ensemble", "--name", "blend", "--from", "a,b", "--weights", "auto", "--kernels", kernels)
    assert code == 0, err
    meta = json.loads((kernels / "blend" / "kernel-metadata.json").read_text())
    assert meta["kernel_sources"] == [metas["a"]["id"], metas["b"]["id"]] and meta["enable_gpu"] is False and meta["enable_internet"] is True
    code, _, err = cli(capsys, "kernels", "build", "ensemble", "--name", "blend2", "--from", "a", "--kernels", kernels)
    one_line_error(code, err, "needs at least two")
    code, _, err = cli(capsys, "kernels", "build", "stack", "--name", "blend2", "--from", "a,b", "--weights", "auto", "--kernels", kernels)
    one_line_error(code, err, "--weights is for an ensemble kernel")

    assert cli(capsys, "kernels", "push", "a", "b", "--kernels", kernels)[0] == 0
    outputs = {name: kernel_output(corn, work, name, rng_seed=10 + i)[1] for i, name in enumerate("ab")}
    for name, files in outputs.items():
        standin.kernel_outputs[metas[name]["id"]] = files
    code, out, err = cli(capsys, "kernels", "output", "a", "b", "--kernels", kernels, "--data", corn, "--work", work)
    assert code == 0, err
    code, out, err = cli(capsys, "ensemble", *out.splitlines()[-1].split(), "--weights", "auto", "--data", corn, "--work", work)
    assert code == 0, err
    code, out, err = cli(capsys, "submit", out.splitlines()[-1], "--data", corn, "--work", work, "--submissions", submissions)
    assert code == 0, err
    local = pd.read_csv(out.splitlines()[-1])

    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    shutil.copytree(corn, input_root / COMPETITION / "corn", ignore=shutil.ignore_patterns("solution.csv"))
    _mount(outputs["a"], input_root / metas["a"]["id"].split("/")[1])
    _mount(outputs["b"], input_root / "notebooks" / metas["b"]["id"])  # notebooks/<owner>/<slug>/
    working.mkdir(parents=True)
    notebook = nbformat.read(kernels / "blend" / meta["code_file"], as_version=4)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CORNKIT_INPUT_ROOT", str(input_root))
        env.setenv("CORNKIT_WORKING_ROOT", str(working))
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()
    pd.testing.assert_frame_equal(pd.read_csv(working / "submission.csv"), local)
    summary = json.loads((working / "cornkit-run.json").read_text())
    assert summary["approach"] == "ensemble" and (working / "cornkit-runs" / summary["run_id"] / "config.json").is_file()


@pytest.mark.slow
def test_predict_kernel_reproduces_the_source_runs_test_predictions(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: Capsys) -> None:
    """An inference-only kernel: the source kernel's Run (with its model) mounted as input, `cornkit predict`, no training."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    from cornkit.heads.registry import run_head

    kernels, work = tmp_path / "kernels", tmp_path / "work"
    dataset = load_dataset(corn)
    run = run_head("probe", dataset, make_split(dataset, work), work, model="cornkit-tiny-clip", pretrained="none", workers=0, cs="1", cv_folds=2)
    source = _build(capsys, kernels, "src", "--pretrained", "none")  # offline, the predict kernel can load no hub weights
    code, _, err = cli(capsys, "kernels", "build", "predict", "--name", "infer", "--from", "src", "--kernels", kernels, "--dataset-source", "me/wheels")
    assert code == 0, err
    meta = json.loads((kernels / "infer" / "kernel-metadata.json").read_text())
    assert meta["kernel_sources"] == [source["id"]] and meta["enable_internet"] is False
    code, _, err = cli(capsys, "kernels", "build", "predict", "--name", "infer2", "--from", "src,src", "--kernels", kernels)
    one_line_error(code, err, "needs --from A")

    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    shutil.copytree(corn, input_root / COMPETITION / "corn", ignore=shutil.ignore_patterns("solution.csv"))
    assert run.path is not None
    shutil.copytree(run.path, input_root / source["id"].split("/")[1] / "cornkit-runs" / run.run_id)
    working.mkdir(parents=True)
    notebook = nbformat.read(kernels / "infer" / meta["code_file"], as_version=4)
    assert not any('cornkit("split"' in cell.source for cell in notebook.cells)  # no split, no training: the model predicts
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CORNKIT_INPUT_ROOT", str(input_root))
        env.setenv("CORNKIT_WORKING_ROOT", str(working))
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()
    submission = pd.read_csv(working / "submission.csv", dtype=str)
    assert submission["label"].tolist() == pd.Series(run.test_predictions(), index=run.test_ids).loc[submission["seed_id"]].tolist()
    probs = pd.read_csv(working / "cornkit-predictions" / "test_probs.csv", dtype={"seed_id": str}).set_index("seed_id").loc[run.test_ids, list(run.classes)]
    np.testing.assert_allclose(probs.to_numpy(), run.test_probs, atol=1e-5)  # the images embedded anew in the kernel


def test_variants_of_one_head_carry_their_own_backbone_and_checked_flags(standin: StandinKaggle, tmp_path: Path, capsys: Capsys) -> None:
    import nbformat

    kernels = tmp_path / "kernels"
    for name, flags in (("a", "--backbone timm:resnet18 --pretrained none --epochs 1"), ("b", "--backbone timm:resnet34 --mixup 0.2")):
        code, _, err = cli(capsys, "kernels", "build", "finetune", "--name", name, "--kernels", kernels, "--head-args", flags)
        assert code == 0, err
    metas = {name: json.loads((kernels / name / "kernel-metadata.json").read_text()) for name in "ab"}
    assert metas["a"]["id"] != metas["b"]["id"]
    sources = {name: "".join(c.source for c in nbformat.read(kernels / name / metas[name]["code_file"], as_version=4).cells) for name in "ab"}
    assert 'MODEL = "timm:resnet18"' in sources["a"] and 'PRETRAINED = "none"' in sources["a"] and '"--epochs", "1"' in sources["a"]
    assert 'MODEL = "timm:resnet34"' in sources["b"] and '"--mixup", "0.2"' in sources["b"]
    code, _, err = cli(capsys, "kernels", "build", "finetune", "--name", "c", "--kernels", kernels, "--head-args", "--backbone timm:resnet18 --epochs 0")
    one_line_error(code, err, "--epochs: 0 is too small")
    assert not (kernels / "c").exists()

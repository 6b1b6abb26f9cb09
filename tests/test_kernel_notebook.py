"""A built kernel notebook, executed end to end with nbclient under a simulated Kaggle layout.

The notebook is the one ``cornkit kernels build`` writes and ``kernels push`` sends; only
``CORNKIT_INPUT_ROOT`` and ``CORNKIT_WORKING_ROOT`` move ``/kaggle/input`` and
``/kaggle/working`` into a temporary folder. It runs the kit shipped inside it on a synthetic
set with the tiny random-weight CLIP model, and must leave a ``submission.csv`` the kit's
validator accepts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from cornkit.data.dataset import load_dataset
from cornkit.data.synth import make_synthetic_corn
from cornkit.defaults import COMPETITION
from cornkit.heads.registry import all_heads
from cornkit.kaggle.kernels import KernelSpec, build_kernel
from cornkit.kaggle.submission import validate_submission

pytestmark = pytest.mark.slow  # executes kernel notebooks end to end

nbclient = pytest.importorskip("nbclient")


def test_built_probe_notebook_runs_under_a_simulated_kaggle_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    data = make_synthetic_corn(input_root / COMPETITION / "corn", n_train=120, n_test=24, seed=5).root
    solution = shutil.move(data / "solution.csv", tmp_path / "solution.csv")
    working.mkdir(parents=True)
    spec = KernelSpec(approach="probe", user="cornkit-tester", model="cornkit-tiny-clip", pretrained="none")
    kernel = build_kernel(spec, tmp_path / "kernels")
    notebook = nbformat.read(kernel.path / kernel.metadata["code_file"], as_version=4)

    monkeypatch.setenv("CORNKIT_INPUT_ROOT", str(input_root))
    monkeypatch.setenv("CORNKIT_WORKING_ROOT", str(working))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()
    printed = [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    says = "GPU(s), one process each" if torch.cuda.is_available() else "no GPU: one process on the CPU"
    assert any(says in text for text in printed), "the notebook says which GPUs it uses"

    dataset = load_dataset(data, check_images=False)
    submission = pd.read_csv(working / "submission.csv")
    validate_submission(submission, dataset.sample_submission, dataset.classes, id_column=dataset.id_column, source="the kernel's submission.csv")
    summary = json.loads((working / "cornkit-run.json").read_text())
    assert summary["approach"] == "probe" and summary["model"].startswith("cornkit-tiny-clip")
    run_folder = working / "cornkit-work" / "runs" / summary["run_id"]
    copied = working / "cornkit-runs" / summary["run_id"]
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in run_folder.iterdir()), "the Run comes back with `kernels output`"
    assert summary["split"]["split_id"] == summary["split_id"] and summary["split"]["data_fingerprint"] == dataset.fingerprint
    val = pd.read_csv(run_folder / "val_probs.csv")
    predicted = val[list(dataset.classes)].to_numpy().argmax(axis=1)
    assert summary["val_accuracy"] == pytest.approx((predicted == val["label"].map(dataset.classes.index).to_numpy()).mean())
    assert pd.read_csv(solution)["seed_id"].tolist() == submission["seed_id"].tolist()


def test_a_kernel_repeats_the_local_split_metric_included_on_another_competitions_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dog Breed's shape (labels.csv, hex ids, probability columns) scored by log loss: the kernel's split is the local one."""
    from cornkit.data.split import make_split
    from cornkit.kaggle.notebook import split_flags

    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    data = make_synthetic_corn(input_root / COMPETITION / "dogs", n_train=60, n_test=12, seed=5, layout="dogbreed").root
    working.mkdir(parents=True)
    dataset = load_dataset(data, check_images=False)
    local = make_split(dataset, tmp_path / "local-work", folds=3, seed=11, metric="log_loss")
    spec = KernelSpec(approach="probe", user="cornkit-tester", model="cornkit-tiny-clip", pretrained="none", split_flags=split_flags(local.params))
    kernel = build_kernel(spec, tmp_path / "kernels")
    notebook = nbformat.read(kernel.path / kernel.metadata["code_file"], as_version=4)
    assert any('"--folds", "3", "--seed", "11", "--metric", "log_loss"' in cell.source for cell in notebook.cells)

    monkeypatch.setenv("CORNKIT_INPUT_ROOT", str(input_root))
    monkeypatch.setenv("CORNKIT_WORKING_ROOT", str(working))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()
    summary = json.loads((working / "cornkit-run.json").read_text())
    assert summary["split"]["split_id"] == local.split_id and summary["split"]["metric"] == "log_loss"
    metrics = json.loads((working / "cornkit-runs" / summary["run_id"] / "metrics.json").read_text())
    assert "val_log_loss" in metrics
    submission = pd.read_csv(working / "submission.csv", dtype=str)
    assert list(submission.columns) == list(dataset.sample_submission.columns) and submission["id"].tolist() == dataset.sample_submission["id"].tolist()


def test_every_registered_head_builds_as_a_kernel(tmp_path: Path) -> None:
    approaches = list(all_heads())
    assert {"zeroshot", "probe", "convnext"} <= set(approaches)
    for approach in approaches:
        kernel = build_kernel(KernelSpec(approach=approach, user="cornkit-tester"), tmp_path)
        assert kernel.metadata["competition_sources"] == [COMPETITION]


WAITING_HEAD = '''
"""A head for the streaming test only: it prints a line, then waits for the file the test writes on seeing that line."""
import time
from dataclasses import dataclass
from pathlib import Path

from cornkit.errors import CornkitError
from cornkit.heads.registry import Head
from cornkit.params import Params, param, seed_param



@dataclass(frozen=True, kw_only=True)
class WaitParams(Params):
    until: str = param(help="the file to wait for")
    seed: int = seed_param()


def _wait(ctx):
    print("waiting for", ctx.params.until, flush=True)
    until, deadline = Path(ctx.params.until), time.monotonic() + 120
    while not until.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    raise CornkitError("saw the file while running" if until.exists() else "gave up: nobody saw the line while the command ran")


HEAD = Head(name="waitforfile", help="streaming test", params=WaitParams, make_run=_wait, inputs="images", launchable=False)
'''


class WriteFileOnLine(nbclient.NotebookClient):
    """Creates ``until`` as soon as an output message of the running cell says ``waiting for``."""

    def __init__(self, *args, until: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.until = until

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream" and "waiting for" in msg["content"]["text"]:
            self.until.touch()
        return super().output(outs, msg, display_id, cell_index)


def test_kernel_notebook_streams_command_output_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's line reaches the notebook before the command ends: it only ends after the notebook has seen it.

    If the helper showed the output only at the end, the command would wait in vain and say so; the cell
    still fails with the tail of the command's output, as a failed command must.
    """
    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    make_synthetic_corn(input_root / COMPETITION / "corn", n_train=40, n_test=8, seed=5)
    working.mkdir(parents=True)
    kernel = build_kernel(KernelSpec(approach="finetune", user="cornkit-tester", pretrained="none"), tmp_path / "kernels")
    notebook = nbformat.read(kernel.path / kernel.metadata["code_file"], as_version=4)
    split_cell = next(i for i, cell in enumerate(notebook.cells) if 'cornkit("split"' in cell.source)
    until = tmp_path / "seen"
    notebook.cells = [
        *notebook.cells[: split_cell + 1],
        nbformat.v4.new_code_cell(
            f"(KIT / 'cornkit' / 'heads' / 'waitforfile.py').write_text({WAITING_HEAD!r})\n"
            f"cornkit('waitforfile', '--data', DATA, '--work', WORK, '--until', {str(until)!r})\n"
        ),
    ]
    monkeypatch.setenv("CORNKIT_INPUT_ROOT", str(input_root))
    monkeypatch.setenv("CORNKIT_WORKING_ROOT", str(working))
    client = WriteFileOnLine(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}, until=until)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        client.execute()
    reported = failure.value.evalue  # the RuntimeError of the notebook's helper (the cell's source is elsewhere in the error)
    assert "cornkit waitforfile failed with exit code 2" in reported
    assert "saw the file while running" in reported


def _execute(notebook: nbformat.NotebookNode, input_root: Path, working: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    working.mkdir(parents=True)
    monkeypatch.setenv("CORNKIT_INPUT_ROOT", str(input_root))
    monkeypatch.setenv("CORNKIT_WORKING_ROOT", str(working))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()


def test_predict_kernel_on_an_ensemble_kernel_predicts_with_the_members_its_output_carries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Head Runs mounted as Kaggle mounts kernel outputs → the ensemble notebook → its output as the only input of a predict notebook.

    The ensemble kernel's output must carry its members with their models, and the predict
    kernel must put them where `cornkit predict` of an ensemble looks, so the prediction is the
    ensemble Run's own test probabilities and submission, the images embedded anew.
    """
    from cornkit.data.split import make_split
    from cornkit.heads.registry import run_head
    from cornkit.kaggle.combine import CombineSpec, build_combine_kernel
    from cornkit.kaggle.inputs import MEMBERS_OUTPUT, RUNS_OUTPUT
    from cornkit.kaggle.predict_kernel import PredictKernelSpec, build_predict_kernel

    input_root, kernels = tmp_path / "kaggle" / "input", tmp_path / "kernels"
    data = make_synthetic_corn(input_root / COMPETITION / "corn", n_train=80, n_test=16, seed=7).root
    (data / "solution.csv").unlink()
    dataset, work = load_dataset(data), tmp_path / "work"
    split = make_split(dataset, work)
    tiny = {"model": "cornkit-tiny-clip", "pretrained": "none", "workers": 0}
    runs = [run_head("probe", dataset, split, work, cs="1", cv_folds=2, **tiny), run_head("gda", dataset, split, work, **tiny)]
    heads = [build_kernel(KernelSpec(approach=r.approach, user="cornkit-tester", model="cornkit-tiny-clip", pretrained="none"), kernels) for r in runs]
    for head, run, mount in zip(heads, runs, ("", "notebooks/cornkit-tester/"), strict=True):  # both layouts Kaggle has used
        assert run.path is not None
        shutil.copytree(run.path, input_root / f"{mount}{head.kernel_id.split('/')[1]}" / RUNS_OUTPUT / run.run_id)

    combine = CombineSpec(kind="ensemble", name="blend", user="cornkit-tester", sources=tuple(heads), options=("--weights", "0.3,0.7"))
    blend = build_combine_kernel(combine, kernels)
    _execute(nbformat.read(blend.path / blend.metadata["code_file"], as_version=4), input_root, tmp_path / "blend-working", monkeypatch)
    carried = tmp_path / "blend-working" / MEMBERS_OUTPUT
    assert sorted(p.name for p in carried.iterdir()) == sorted(r.run_id for r in runs)
    assert all((carried / r.run_id / "model.json").is_file() for r in runs), "the members come with their fitted models"
    shutil.copytree(tmp_path / "blend-working", input_root / blend.kernel_id.split("/")[1], ignore=shutil.ignore_patterns("cornkit-work"))

    spec = PredictKernelSpec(name="blend-infer", user="cornkit-tester", source=blend, dataset_sources=("cornkit-tester/open-clip-wheels",))
    infer = build_predict_kernel(spec, kernels)
    assert infer.metadata["kernel_sources"] == [blend.kernel_id] and infer.metadata["enable_internet"] is False
    assert infer.metadata["enable_gpu"] is True, "a GPU as the head kernels behind the ensemble had"
    notebook = nbformat.read(infer.path / infer.metadata["code_file"], as_version=4)
    assert any("open_clip_torch" in cell.source for cell in notebook.cells), "the members' CLIP heads need open_clip"
    _execute(notebook, input_root, tmp_path / "working", monkeypatch)

    ensemble_id = json.loads((tmp_path / "blend-working" / "cornkit-run.json").read_text())["run_id"]
    own = pd.read_csv(tmp_path / "blend-working" / RUNS_OUTPUT / ensemble_id / "test_probs.csv").set_index("seed_id")
    predicted = pd.read_csv(tmp_path / "working" / "cornkit-predictions" / "test_probs.csv").set_index("seed_id").loc[own.index, list(dataset.classes)]
    np.testing.assert_allclose(predicted.to_numpy(), own[list(dataset.classes)].to_numpy(), atol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "working" / "submission.csv"), pd.read_csv(tmp_path / "blend-working" / "submission.csv"))

"""``cornkit sweep HEAD --kernels K``: trials as Kaggle kernels, against the stand-in Kaggle API with the official client.

The stand-in runs each pushed version for a fraction of a second; what the version leaves in its
output is made here from the kernel's recorded flags (a probe Run, and the objective a trial kernel
reports), as its notebook would on Kaggle. The notebook's own side, a one-trial sweep of the flags,
runs for real in the last test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import cli, one_line_error
from cornkit.clip.model import TINY_MODEL
from cornkit.defaults import COMPETITION
from cornkit.kaggle.kernels import KernelSpec, build_kernel
from cornkit.kaggle.notebook import SWEEP_TRIAL_KEY
from cornkit.sweeps import kernel_trials
from cornkit.sweeps.reuse import trial_of_run
from cornkit.sweeps.storage import embedded_url
from cornkit.sweeps.study import RUN_ID_ATTR, load_study
from kaggle_standin import StandinKaggle
from kernel_outputs import kernel_output

Capsys = pytest.CaptureFixture[str]


def objective_of(cs: float) -> float:
    """What the stand-in's trial kernels report: best at C = 10, so TPE has something to find."""
    return 1.0 - abs(math.log10(cs) - 1.0) / 10


@pytest.fixture
def kernel_trials_world(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A split of the synthetic set, and a stand-in whose kernels run 0.3 s and leave what a probe trial kernel leaves."""
    monkeypatch.setenv("CORNKIT_KERNEL_POLL_S", "0.05")
    work, kernels = tmp_path / "work", tmp_path / "kernels"
    assert cli(capsys, "split", "--data", corn, "--work", work)[0] == 0

    def trial_output(slug: str, version: int) -> dict[str, bytes]:
        folder = next(p.parent for p in kernels.glob("*/kernel-metadata.json") if json.loads(p.read_text())["id"] == slug)
        flags = json.loads((folder / "cornkit-kernel.json").read_text())["flags"]
        cs = float(flags[flags.index("--cs") + 1])
        run_id, files = kernel_output(corn, work, f"{folder.name} v{version}", rng_seed=version)
        summary = json.loads(files["cornkit-run.json"])
        summary[SWEEP_TRIAL_KEY] = {"run_id": run_id, "objective": objective_of(cs)}
        return {**files, "cornkit-run.json": json.dumps(summary).encode()}

    standin.kernel_run_s = 0.3
    standin.on_push = trial_output
    return work, kernels


def _sweep(capsys: Capsys, corn: Path, work: Path, kernels: Path, *more: object) -> tuple[int, str, str]:
    return cli(capsys, "sweep", "probe", "--data", corn, "--work", work, "--kernels-dir", kernels, "--kernels", 2, "--trials", 4, *more)


def _pushed(standin: StandinKaggle) -> list[str]:
    return [call.body["slug"] for call in standin.calls("SaveKernel") if call.body.get("slug")]


def test_kernels_run_the_trials_two_at_a_time(standin: StandinKaggle, kernel_trials_world: tuple[Path, Path], corn: Path, capsys: Capsys) -> None:
    work, kernels = kernel_trials_world
    code, out, err = _sweep(capsys, corn, work, kernels, "--study", "on-kaggle")
    assert code == 0, err
    pushed = _pushed(standin)
    assert len(pushed) == 4 and len(set(pushed)) == 4, "one kernel per trial"
    assert standin.most_gpu_running == 2 and standin.refusals == 0, "two at a time, never a third GPU session"
    assert sorted(p.name for p in kernels.glob("[!.]*")) == [kernel_trials.trial_kernel_name("on-kaggle", n) for n in range(4)]
    record = json.loads((kernels / kernel_trials.trial_kernel_name("on-kaggle", 0) / "cornkit-kernel.json").read_text())
    assert record["head"] == "probe" and "--cs" in record["flags"] and "--alpha" in record["flags"] and record["version"] == 1
    notebook = json.loads(next((kernels / kernel_trials.trial_kernel_name("on-kaggle", 0)).glob("*.ipynb")).read_text())
    head_cell = next("".join(c["source"]) for c in notebook["cells"] if "RUN = cornkit(" in "".join(c["source"]))
    assert '"sweep", "probe", "--trials", "1", "--space", "none", "--pruner", "none"' in head_cell and '"--cs"' in head_cell

    study = load_study("on-kaggle", embedded_url(work))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for trial in trials:
        run = work / "runs" / trial.user_attrs[RUN_ID_ATTR]
        origin = json.loads((run / "origin.json").read_text())
        assert origin["name"] == trial.user_attrs[kernel_trials.KERNEL_ATTR] and origin["version"] == trial.user_attrs[kernel_trials.VERSION_ATTR]
        assert trial.value == pytest.approx(objective_of(trial.params["cs"])), "the objective is the one the kernel reported"
        assert trial.user_attrs["worker"] == f"kaggle:{origin['kernel']}/1"
    best = max(trials, key=lambda t: t.value or -1)
    assert out.splitlines()[-1] == best.user_attrs[RUN_ID_ATTR]
    assert "study on-kaggle: 4 of 4 trials finished" in out
    assert "trial 0: pushed kernel cornkit-tester/" in err and "(kernel cornkit-tester/" in err

    code, shown, err = cli(capsys, "sweep", "show", "on-kaggle", "--work", work)
    assert code == 0 and kernel_trials.trial_kernel_name("on-kaggle", 3) in shown, err
    table = pd.read_csv(work / "sweeps" / "on-kaggle" / "trials.csv")
    assert table["kernel"].tolist() == [kernel_trials.trial_kernel_name("on-kaggle", n) for n in range(4)]

    code, again, err = _sweep(capsys, corn, work, kernels, "--study", "on-kaggle")
    assert code == 0, err
    assert len(_pushed(standin)) == 4 and again.splitlines()[-1] == out.splitlines()[-1], "a finished study pushes nothing"

    code, _, err = _sweep(capsys, corn, work, kernels, "--study", "on-kaggle", "--workers", 2)
    one_line_error(code, err, "--kernels and --workers")
    code, _, err = _sweep(capsys, corn, work, kernels, "--study", "on-kaggle", "--accelerator", "TpuV38")
    one_line_error(code, err, "--accelerator", "NvidiaTeslaT4")
    assert len(_pushed(standin)) == 4

    argv = ["sweep", "probe", "--data", corn, "--work", work, "--kernels-dir", kernels, "--study", "three", "--seed", 4]
    code, out, err = cli(capsys, *argv, "--kernels", 3, "--max-running", 3, "--trials", 3)
    assert code == 0, err
    assert standin.refusals >= 1 and standin.most_gpu_running == 2, "Kaggle's own refusal of a third GPU session is waited out"
    refused = [line for line in err.splitlines() if "waiting to push: Kaggle refused" in line]
    assert len(refused) == 1 and "Maximum batch GPU session count of 2 reached" in refused[0], "said once, not at every poll"
    assert "study three: 3 of 3 trials finished" in out

    standin.gpu_quota_used_s = standin.gpu_quota_total_s - 0.1  # less than one trial kernel's run time, once one has completed
    code, _, err = _sweep(capsys, corn, work, kernels, "--study", "no-quota", "--seed", 3)
    one_line_error(code, err, "GPU quota: 0.0 h left", "less than one trial kernel's", "run the same command once the quota resets")
    assert len(standin.kernels) == 9, "the first two go out (no run time known yet); the third waits for the quota"


def test_an_interrupted_kernel_sweep_follows_its_kernels_and_replaces_a_failed_one(
    standin: StandinKaggle, kernel_trials_world: tuple[Path, Path], corn: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, kernels = kernel_trials_world

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    waiting = kernel_trials._pause
    monkeypatch.setattr(kernel_trials, "_pause", interrupt)
    code, _, err = _sweep(capsys, corn, work, kernels, "--study", "resumed")
    assert code == 130, err
    first = _pushed(standin)
    assert len(first) == 2
    study = load_study("resumed", embedded_url(work))
    assert [(t.state.name, t.user_attrs[kernel_trials.VERSION_ATTR]) for t in study.get_trials()] == [("RUNNING", 1)] * 2

    monkeypatch.setattr(kernel_trials, "_pause", waiting)
    standin.failing = {first[0]}
    code, out, err = _sweep(capsys, corn, work, kernels, "--study", "resumed")
    assert code == 0, err
    pushed = _pushed(standin)
    assert pushed[:2] == first and len(pushed) == 5 and first[1] not in pushed[2:], "the kernels in flight are followed, not pushed again"
    assert "trial 1: following kernel" in err and "trial 0 failed: kernel" in err and "ended ERROR" in err
    states = [t.state.name for t in load_study("resumed", embedded_url(work)).get_trials()]
    assert states == ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE", "COMPLETE"], "the failed trial is replaced by a new one"
    assert "study resumed: 4 of 4 trials finished" in out


def test_a_trial_kernel_runs_a_one_trial_sweep_of_its_flags(sweep_work: tuple, tmp_path: Path, capsys: Capsys) -> None:
    """What the trial kernel's notebook runs: the Run of the flags' parameters and its objective, which it reports to the sweep."""
    dataset, _, work = sweep_work
    flags = ["--cs", "0.5", "--alpha", "0.25"]
    argv = ["sweep", "probe", "--data", dataset.root, "--work", work, "--model", TINY_MODEL, "--pretrained", "none"]
    code, out, err = cli(capsys, *argv, "--trials", "1", "--space", "none", "--pruner", "none", *flags)
    assert code == 0, err
    run_id = out.splitlines()[-1]
    reported = trial_of_run(work, run_id)
    [trial] = load_study(out.split()[1].rstrip(":"), embedded_url(work)).get_trials()
    assert trial.params == {} and trial.value == reported["objective"] and trial.user_attrs[RUN_ID_ATTR] == run_id
    config = json.loads((work / "runs" / run_id / "config.json").read_text())
    assert config["cs"] == [0.5] and config["alpha"] == 0.25

    spec = KernelSpec(approach="probe", user="someone", name="sweep-abc123-t0", extra_args=tuple(flags), sweep_trial=True)
    notebook = json.dumps(json.loads(next(build_kernel(spec, tmp_path / "kernels").path.glob("*.ipynb")).read_text()))
    assert "trial_of_run(WORK, RUN)" in notebook and "import optuna" in notebook and '\\"--gpus\\"' not in notebook


@pytest.mark.slow
def test_a_pushed_trial_notebook_runs_and_its_sweep_tells_its_objective(
    standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole loop with the real notebook: pushed, executed under a simulated Kaggle layout, its output fetched, imported and told."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    monkeypatch.setenv("CORNKIT_KERNEL_POLL_S", "0.05")
    work, kernels = tmp_path / "work", tmp_path / "kernels"
    assert cli(capsys, "split", "--data", corn, "--work", work)[0] == 0
    argv = ["--study", "real", "--kernels", 1, "--trials", 1, "--model", TINY_MODEL, "--pretrained", "none", "--cv-folds", 2]
    waiting = kernel_trials._pause

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kernel_trials, "_pause", interrupt)  # stop once the kernel is pushed, as Ctrl-C would
    code, _, err = cli(capsys, "sweep", "probe", "--data", corn, "--work", work, "--kernels-dir", kernels, *argv)
    assert code == 130, err
    [slug] = _pushed(standin)

    folder = kernels / kernel_trials.trial_kernel_name("real", 0)
    input_root, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    shutil.copytree(corn, input_root / COMPETITION / "corn", ignore=shutil.ignore_patterns("solution.csv"))
    working.mkdir(parents=True)
    notebook = nbformat.read(next(folder.glob("*.ipynb")), as_version=4)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CORNKIT_INPUT_ROOT", str(input_root))
        env.setenv("CORNKIT_WORKING_ROOT", str(working))
        env.setenv("HF_HUB_OFFLINE", "1")
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(working)}}).execute()
    outputs = [working / "cornkit-run.json", *(p for p in (working / "cornkit-runs").rglob("*") if p.is_file())]
    standin.kernel_outputs[slug] = {p.relative_to(working).as_posix(): p.read_bytes() for p in outputs}
    reported = json.loads((working / "cornkit-run.json").read_text())[SWEEP_TRIAL_KEY]

    monkeypatch.setattr(kernel_trials, "_pause", waiting)
    code, out, err = cli(capsys, "sweep", "probe", "--data", corn, "--work", work, "--kernels-dir", kernels, *argv)
    assert code == 0, err
    [trial] = load_study("real", embedded_url(work)).get_trials()
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(reported["objective"])
    assert trial.user_attrs[RUN_ID_ATTR] == reported["run_id"] == out.splitlines()[-1]
    config = json.loads((work / "runs" / reported["run_id"] / "config.json").read_text())
    assert config["cs"] == [trial.params["cs"]] and config["alpha"] == pytest.approx(trial.params["alpha"]), "the kernel ran the trial's draws"


def test_a_kernel_output_without_the_trials_objective_is_one_line_and_tells_nothing(
    standin: StandinKaggle, kernel_trials_world: tuple[Path, Path], corn: Path, capsys: Capsys
) -> None:
    work, kernels = kernel_trials_world
    standin.on_push = lambda slug, version: kernel_output(corn, work, slug, rng_seed=version)[1]  # a head kernel's output, not a trial's
    code, _, err = cli(capsys, "sweep", "probe", "--data", corn, "--work", work, "--kernels-dir", kernels, "--kernels", 1, "--trials", 1, "--study", "bare")
    one_line_error(code, err, "reports no sweep objective", "sweep_trial", str(kernels / kernel_trials.trial_kernel_name("bare", 0)))
    [trial] = load_study("bare", embedded_url(work)).get_trials()
    assert trial.state.name == "RUNNING" and trial.value is None, "nothing told: the same command tries the import again"

"""The command line end to end on a small synthetic set, and its error contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch.utils.data import DataLoader, Dataset

from cornkit.cli import main
from cornkit.data.dataset import load_dataset
from cornkit.demo import SWEEP_TRIALS, DemoResult, demo_heads, run_demo
from cornkit.errors import CornkitError, user_message
from cornkit.kaggle.submission import write_submission
from cornkit.sweeps.storage import embedded_url
from cornkit.sweeps.study import load_study

CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


@pytest.mark.slow
def test_commands_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, work, subs = tmp_path / "data", tmp_path / "work", tmp_path / "subs"
    common = ["--data", str(data), "--work", str(work)]
    assert main(["synth", "--out", str(data), "--n-train", "120", "--n-test", "30", "--seed", "4"]) == 0
    assert _last_line(capsys) == str(data)
    assert main(["split", *common]) == 0
    assert _last_line(capsys) == str(work / "split.csv")
    assert main(["features", *common, *CLIP]) == 0
    assert Path(_last_line(capsys)).parent == work / "features"
    assert main(["zeroshot", *common, *CLIP, "--prompt-set", "descriptive"]) == 0
    zeroshot_id = _last_line(capsys)
    assert (work / "runs" / zeroshot_id / "val_probs.csv").is_file()
    assert main(["prompts", "compare", *common, *CLIP]) == 0
    comparison = pd.read_csv(_last_line(capsys))
    assert "descriptive" in set(comparison["prompt_set"])
    assert main(["probe", *common, *CLIP, "--cs", "1,100", "--cv-folds", "3"]) == 0
    probe_id = _last_line(capsys)
    assert main(["score", probe_id[:12], "--data", str(data), "--work", str(work)]) == 0
    assert _last_line(capsys) == str(work / "runs" / probe_id)
    assert (work / "runs" / probe_id / "confusion.png").is_file()
    assert main(["submit", probe_id, *common, "--submissions", str(subs)]) == 0
    submission = Path(_last_line(capsys))
    assert submission == subs / f"{probe_id}.csv"
    assert len(pd.read_csv(submission)) == 30
    assert main(["runs", "--work", str(work)]) == 0
    assert _last_line(capsys) == f"2 Run(s) in {work / 'runs'}"


def test_user_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", "--data", str(tmp_path / "nowhere"), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cornkit split: error: --data") and err.count("\n") == 1
    assert not (tmp_path / "work").exists()
    assert main(["score", "no-such-run", "--data", str(tmp_path), "--work", str(tmp_path)]) == 2
    assert "no Run 'no-such-run'" in capsys.readouterr().err


def test_console_entry_point_prints_no_traceback(corn_copy: Path, tmp_path: Path) -> None:
    train = pd.read_csv(corn_copy / "train.csv")
    train.loc[5, "label"] = "mouldy"
    train.to_csv(corn_copy / "train.csv", index=False)
    result = subprocess.run(
        [sys.executable, "-m", "cornkit", "split", "--data", str(corn_copy), "--work", str(tmp_path / "w"), "--classes", "broken,discolored,pure,silkcut"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train.csv, row 7, column 'label': unknown label 'mouldy'" in result.stderr
    assert not (tmp_path / "w").exists()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult, list[str]]:
    """The demo, run once, from a relative --out as `make demo` gives it."""
    root = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    here = os.getcwd()
    os.chdir(root)
    try:
        result = run_demo(Path("demo"), n_train=120, n_test=30, say=lines.append)
    finally:
        os.chdir(here)
    return root / "demo", result, lines


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_submitting_again_adds_nothing(demo) -> None:
    out, result, lines = demo
    assert list(result.table["approach"]) == [head.name for head in demo_heads()] + ["ensemble", "ensemble", "stack", "probe"]
    assert {"zeroshot", "probe", "gda", "tip", "convnext", "finetune"} <= set(result.table["approach"])
    assert "synthetic_test_accuracy (solution.csv)" in result.table.columns
    assert any("RANDOM weights" in line for line in lines)
    sweep_line = next(line for line in lines if line.startswith("study probe-"))
    assert sweep_line.endswith(result.runs[-1].run_id) and "objective accuracy" in sweep_line
    study = load_study(sweep_line.split()[1].rstrip(":"), embedded_url(out / "work"))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * SWEEP_TRIALS
    assert lines[-1].endswith(str(Path("demo", "work", "report.html"))) and (out / "work" / "report.html").is_file()
    submissions = sorted((out / "submissions").glob("*.csv"))
    assert [p.name for p in submissions if p.name != "ledger.csv"] == sorted(f"{r.run_id}.csv" for r in result.runs)
    dataset = load_dataset(out / "data")
    assert not any(write_submission(run, dataset, out / "submissions").created for run in result.runs)
    assert len(pd.read_csv(out / "submissions" / "ledger.csv")) == len(result.runs)


FINE_TUNES = {"convnext", "finetune"}


@pytest.mark.slow
@pytest.mark.parametrize("approach", ["zeroshot", "probe", "gda", "tip", "convnext", "finetune", "ensemble", "stack"])
def test_predict_reproduces_each_demo_runs_test_probabilities(demo, approach: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`cornkit predict RUN --data DIR` on the Run's own test set: its fitted model gives its test_probs.csv again."""
    out, result, _ = demo
    run = next(r for r in result.runs if r.approach == approach)
    assert main(["predict", run.run_id, "--data", str(out / "data"), "--work", str(out / "work")]) == 0
    predicted = (
        pd.read_csv(Path(_last_line(capsys)) / "test_probs.csv", dtype={run.id_column: str}).set_index(run.id_column).loc[run.test_ids, list(run.classes)]
    )
    # Feature heads, ensembles and stacks: the same arithmetic on the same features. Fine-tunes: the exported learner, with
    # TTA seeded as the Run seeded it; fastai's batch pipeline is the same, only float32 summation order may differ.
    np.testing.assert_allclose(predicted.to_numpy(), run.test_probs, atol=1e-5 if approach in FINE_TUNES else 1e-6)


class _BrokenImages(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> None:
        raise CornkitError("image of seed_id 7: image /data/train/7.png cannot be read (truncated). Re-download it.")


def test_an_error_raised_in_a_dataloader_worker_reads_as_one_line() -> None:
    """On a GPU the loaders use worker processes; torch re-raises their errors wrapped in a traceback."""
    with pytest.raises(CornkitError) as raised:
        list(DataLoader(_BrokenImages(), num_workers=1))
    assert "Original Traceback" in str(raised.value)
    assert user_message(raised.value) == "image of seed_id 7: image /data/train/7.png cannot be read (truncated). Re-download it."


def test_every_command_and_subcommand_prints_its_help() -> None:
    """argparse formats help text with %: one literal % in any help line would crash `--help` with a traceback."""
    import argparse

    from cornkit.cli import build_parser

    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        assert parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())

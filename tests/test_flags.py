"""Flags are checked at parse time in one line; the machine's limits (no CUDA, full disk, long names) are one line too."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from cornkit.atomic import write_csv, write_text
from cornkit.cli import main
from cornkit.clip.model import TINY_MODEL, ClipSpec, load_clip
from cornkit.errors import CornkitError

SRC = Path(__file__).resolve().parents[1] / "src"


def _parse_error(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "usage:" not in err and "Traceback" not in err, err
    return lines[0]


CLIP = ("--model", TINY_MODEL, "--pretrained", "none")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("probe", *CLIP, "--cs", "abc"), "cornkit probe: error: argument --cs: 'abc' is not a number"),
        (("probe", *CLIP, "--cs", "0"), "argument --cs: 0 must be greater than 0"),
        (("probe", *CLIP, "--cs", "-1"), "argument --cs: -1 must be greater than 0"),
        (("probe", *CLIP, "--cv-folds", "1"), "argument --cv-folds: 1 is too small"),
        (("features", *CLIP, "--batch-size", "0"), "cornkit features: error: argument --batch-size: 0 is too small"),
        (("features", *CLIP, "--workers", "-2"), "argument --workers: -2 is too small"),
        (("convnext", "--batch-size", "0"), "cornkit convnext: error: argument --batch-size: 0 is too small"),
        (("convnext", "--lr", "-1"), "argument --lr: -1 must be greater than 0"),
        (("convnext", "--lr", "nan"), "argument --lr: 'nan' is not a finite number"),
        (("convnext", "--epochs", "0"), "argument --epochs: 0 is too small"),
        (("convnext", "--monitor-frac", "0.7"), "argument --monitor-frac: 0.7 is outside [0, 0.5)"),
        (("convnext", "--size", "8"), "argument --size: 8 is too small"),
        (("split", "--valid-frac", "0"), "cornkit split: error: argument --valid-frac: 0 is outside (0, 1)"),
        (("split", "--folds", "1"), "argument --folds: 1 is too small"),
        (("split", "--seed", "-1"), "argument --seed: -1 is outside 0..4294967295"),
        (("synth", "--out", "x", "--n-train", "0"), "cornkit synth: error: argument --n-train: 0 is too small"),
        (("score", "r", "--max-images", "-1"), "argument --max-images: -1 is too small"),
        (("kernels", "status", "probe", "--interval", "0"), "argument --interval: 0 must be greater than 0"),
        (("kernels", "status", "probe", "--wait", "-1"), "argument --wait: -1 is outside [0, inf]"),
    ],
)
def test_numeric_flags_are_checked_at_parse_time_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv, says: str) -> None:
    needs_data = argv[0] not in ("synth", "kernels")
    line = _parse_error(capsys, *argv, *(("--data", tmp_path) if needs_data else ()))
    assert says in line, line


def test_a_pretrained_file_that_is_not_a_checkpoint_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "weights.pt"
    fake.write_text("<html>404 Not Found</html>")
    for command in (["features", "--model", TINY_MODEL], ["convnext"]):
        line = _parse_error(capsys, *command, "--data", tmp_path, "--pretrained", fake)
        assert f"argument --pretrained: {fake} is not a checkpoint" in line
    with pytest.raises(CornkitError, match=r"--pretrained .*weights.pt: not a checkpoint for cornkit-tiny-clip"):
        load_clip(ClipSpec(TINY_MODEL, str(fake)))  # the Python API says it too (it was a KeyError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in (["features", *CLIP], ["convnext"]):
        line = _parse_error(capsys, *command, "--data", tmp_path, "--device", "cuda")
        assert "argument --device: CUDA is not available on this machine" in line and "HF_HUB_OFFLINE" not in line
    with pytest.raises(CornkitError, match="CUDA is not available"):
        load_clip(ClipSpec(TINY_MODEL, "none"), "cuda")


def test_a_valid_frac_too_small_for_the_classes_is_one_line(corn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", "--data", str(corn_dir), "--work", str(tmp_path), "--valid-frac", "0.001"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--valid-frac 0.001 holds out 1 of 160 rows" in err


def test_a_full_disk_is_one_line_naming_the_path_and_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_text(tmp_path / "ledger.csv", "old")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(CornkitError, match=rf"cannot write {target}: the disk is full"):
        write_csv(target, pd.DataFrame({"a": [1]}))
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["ledger.csv"]


def test_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    script = (
        "import resource, signal, sys, pandas as pd\n"
        "from cornkit.atomic import write_csv\n"
        "from cornkit.errors import CornkitError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        f"    write_csv({str(tmp_path / 'big.csv')!r}, pd.DataFrame({{'a': range(100000)}}))\n"
        "except CornkitError as error:\n"
        "    print(error); sys.exit(2)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"cannot write {tmp_path / 'big.csv'}: the file is larger than this system allows" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_name_too_long_for_the_filesystem_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match=r"the path is too long for the filesystem"):
        write_text(tmp_path / ("r" * 300 + ".csv"), "x")
    assert list(tmp_path.iterdir()) == []

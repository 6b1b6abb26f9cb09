"""A file-size limit (``ulimit -f``, which fails a write as a full disk does) while the kit writes large files.

Each writer (numpy, torch, joblib, matplotlib, pandas) runs in a subprocess whose
``RLIMIT_FSIZE`` is small (with SIGXFSZ ignored, as Python does, so the write fails with EFBIG
instead of killing the process). Whatever the library makes of EFBIG (numpy: "requested and
written", torch: a RuntimeError), the command ends in one line naming the file and leaves
nothing partial behind.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cornkit.clip.model import TINY_MODEL

pytestmark = pytest.mark.slow  # runs commands under file-size limits in subprocesses

SRC = Path(__file__).resolve().parents[1] / "src"
LIMIT = 8192
SAYS = "the file is larger than this system allows (ulimit -f or the filesystem's limit). Nothing was written there."


def _run(argv: list[str], limit: int = LIMIT) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=300, preexec_fn=limited)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size and p.parent.name != ".cornkit-locks"]


@pytest.mark.parametrize(("store", "written_first"), [("auto", "image-store"), ("none", "features")])
def test_features_under_a_file_size_limit_end_in_one_line_and_leave_no_cache(corn_dir: Path, tmp_path: Path, store: str, written_first: str) -> None:
    """The image store is written first (then the features); without one, the feature cache: either ends in one line, nothing partial."""
    command = ["-m", "cornkit", "features", "--data", str(corn_dir), "--work", str(tmp_path), "--model", TINY_MODEL, "--pretrained", "none"]
    done = _run([*command, "--image-store", store])
    assert done.returncode == 2, done.stderr[-2000:]
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"cornkit features: error: cannot write {tmp_path / written_first}") and error.endswith(SAYS), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert _leftovers(tmp_path) == []


WRITERS = """
import sys
from pathlib import Path

import joblib
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cornkit.atomic import atomic_dir, atomic_path, scratch_dir, write_csv
from cornkit.errors import CornkitError


out = Path(sys.argv[1])
big = np.random.default_rng(0).random((64, 64))
figure = plt.figure(figsize=(20, 20))
plt.imshow(np.random.default_rng(1).random((400, 400)))
writers = {
    "torch": lambda path: torch.save(torch.from_numpy(big), path),
    "numpy": lambda path: np.save(path.open("wb"), big),  # a name: np.save would add ".npy" to a temporary's
    "joblib": lambda path: joblib.dump(big, path),
    "matplotlib": lambda path: figure.savefig(path, format="png"),
}
for name, write in writers.items():
    for how in ("file", "folder", "scratch"):
        try:
            if how == "file":
                with atomic_path(out / name) as tmp:
                    write(tmp)
            elif how == "folder":
                with atomic_dir(out / f"{name}-folder") as folder:
                    write(folder / "part")
            else:
                with scratch_dir(out, ".scratch-test-") as folder:
                    write(Path(folder) / "part")
            print(name, how, "WROTE")
        except CornkitError as error:
            print(name, how, error)
try:
    write_csv(out / "table.csv", pd.DataFrame(big))
except CornkitError as error:
    print("pandas file", error)
"""


def test_every_writer_under_a_file_size_limit_ends_in_one_line_with_nothing_partial(tmp_path: Path) -> None:
    done = _run(["-c", WRITERS, str(tmp_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 13, done.stdout
    for line in lines:
        assert line.endswith(SAYS) and "cannot write" in line, line
    assert _leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir() if p.name != ".cornkit-locks"] == []


def test_submit_under_a_file_size_limit_with_no_lock_folder_yet_ends_in_one_line(corn_dir: Path, tmp_path: Path) -> None:
    """``ulimit -f 0``: the lock folder's ``.gitignore`` is written before anything else; it fails as the others do, and leaves no lock folder."""
    from cornkit.cli import main

    assert main(["split", "--data", str(corn_dir), "--work", str(tmp_path / "work")]) == 0
    assert main(["zeroshot", "--data", str(corn_dir), "--work", str(tmp_path / "work"), "--model", TINY_MODEL, "--pretrained", "none", "--workers", "0"]) == 0
    run_id = next(p.name for p in (tmp_path / "work" / "runs").iterdir() if not p.name.startswith("."))
    done = _run(
        ["-m", "cornkit", "submit", run_id, "--data", str(corn_dir), "--work", str(tmp_path / "work"), "--submissions", str(tmp_path / "subs")], limit=0
    )
    assert done.returncode == 2, done.stderr[-2000:]
    error = done.stderr.strip().splitlines()[-1]
    assert error == f"cornkit submit: error: cannot write {tmp_path / 'subs' / '.cornkit-locks' / '.gitignore'}: {SAYS}", done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "subs" / ".cornkit-locks").exists()

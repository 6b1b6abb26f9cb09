"""Interrupted commands: SIGTERM cleans up like Ctrl-C, SIGKILL's leftovers are reaped by the next command, no worker survives even SIGKILL.

Every process signalled here is one this test started (``subprocess.Popen``), and only its
recorded descendants are checked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cornkit.atomic import reap_stale
from cornkit.cli import main
from cornkit.clip.model import TINY_MODEL
from cornkit.locks import LOCK_DIR

pytestmark = pytest.mark.slow  # starts, signals and kills real commands

SRC = Path(__file__).resolve().parents[1] / "src"


def _cornkit(*argv: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "cornkit", *map(str, argv)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _descendants(pid: int) -> set[int]:
    """Pids of the living processes below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for(condition, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(".scratch-")] if folder.exists() else []


def _features_command(data: Path, work: Path) -> subprocess.Popen[str]:
    return _cornkit("features", "--data", data, "--work", work, "--model", TINY_MODEL, "--pretrained", "none", "--batch-size", "1", "--workers", "0")


def test_sigterm_during_features_cleans_up_like_ctrl_c(corn_dir: Path, tmp_path: Path) -> None:
    process = _features_command(corn_dir, tmp_path)
    try:
        assert _wait_for(lambda: bool(_temporaries(tmp_path)) or process.poll() is not None), "no temporary folder appeared"
        assert process.poll() is None, process.communicate()[1][-2000:]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err[-2000:]
    assert "interrupted; nothing half-written was kept" in err and "Traceback" not in err
    assert _temporaries(tmp_path) == []
    assert not (tmp_path / "features").exists() or [p for p in (tmp_path / "features").iterdir() if p.name != LOCK_DIR] == []


def test_sigkill_leftovers_are_reaped_by_the_next_command(corn_dir: Path, tmp_path: Path) -> None:
    process = _features_command(corn_dir, tmp_path)
    try:
        assert _wait_for(lambda: bool(_temporaries(tmp_path)) or process.poll() is not None)
        process.kill()
        process.communicate(timeout=60)
    finally:
        process.kill()
    left = _temporaries(tmp_path)
    assert left, "SIGKILL left nothing to reap (the command finished first?)"
    assert main(["runs", "--work", str(tmp_path)]) == 0
    assert _temporaries(tmp_path) == []


def test_only_temporaries_of_dead_processes_are_reaped(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    running = subprocess.Popen(["sleep", "60"])
    try:
        names = {
            "dead": f".r1.pid{finished.pid}.ab12.tmp",
            "dead_scratch": f".scratch-convnext-pid{finished.pid}-xy",
            "live": f".r2.pid{running.pid}.cd34.tmp",
            "mine": f".r3.pid{os.getpid()}.ef56.tmp",
            "user": ".pid123.notes",  # not a cornkit temporary
        }
        for name in names.values():
            (tmp_path / name).mkdir()
        removed = {p.name for p in reap_stale(tmp_path)}
        assert removed == {names["dead"], names["dead_scratch"]}
        assert {p.name for p in tmp_path.iterdir()} == {names["live"], names["mine"], names["user"]}
    finally:
        running.kill()
        running.wait()


FIT_MARKER = """
import sys
from pathlib import Path
from sklearn.linear_model import LogisticRegressionCV
from cornkit.cli import main


search = LogisticRegressionCV.fit
def fit(self, *args, **kwargs):
    Path(sys.argv[1]).touch()
    while True:  # busy until the test kills it, however fast this machine fits
        search(self, *args, **kwargs)
LogisticRegressionCV.fit = fit
sys.exit(main(sys.argv[2:]))
"""


def test_a_killed_probe_leaves_no_worker_processes(clip_work, tmp_path: Path) -> None:
    """SIGKILL mid-fit (a kernel past its time limit): nothing the probe started may keep running.

    The command runs with ``LogisticRegressionCV.fit`` wrapped to touch a marker file and then
    fit again and again, so the kill lands inside the cross-validation, where worker processes
    are busy, on a machine of any speed.
    """
    dataset, _, work, _ = clip_work
    mine, marker = tmp_path / "work", tmp_path / "fitting"
    shutil.copytree(work, mine, ignore=shutil.ignore_patterns("runs"))
    argv = ["probe", "--data", dataset.root, "--work", mine, "--model", TINY_MODEL, "--pretrained", "none"]
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", FIT_MARKER, marker, *map(str, argv)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started: set[int] = set()
    try:
        assert _wait_for(lambda: marker.exists() or process.poll() is not None)
        deadline = time.monotonic() + 1.5  # long enough for a pool to start its workers
        while time.monotonic() < deadline and process.poll() is None:
            started |= _descendants(process.pid)
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1][-2000:]
        process.kill()
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert _wait_for(lambda: not _alive(started), timeout=10), f"processes outlived the killed probe: {_alive(started)}"

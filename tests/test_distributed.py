"""Feature extraction over two CPU processes (gloo), launched by ``--processes 2`` through torchrun's own launcher.

Each launch costs a few seconds of process start-up (torch and open_clip imported per rank),
so there are two: one that must reproduce the single-process cache, one where rank 1's shard
holds a broken image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cornkit.cli import main
from cornkit.data.dataset import load_dataset
from cornkit.distributed import shard

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ("--model", "cornkit-tiny-clip", "--pretrained", "none")


def _cornkit(*argv: object) -> subprocess.CompletedProcess[str]:
    """``python -m cornkit ARGV`` in a fresh process, as a user runs it (not a terminal: progress comes as lines)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, "-m", "cornkit", *map(str, argv)], env=env, capture_output=True, text=True, timeout=300)


@given(n=st.integers(0, 500), world=st.integers(1, 9))
def test_shards_cover_every_index_once_in_order_and_evenly(n: int, world: int) -> None:
    shards = [shard(n, rank, world) for rank in range(world)]
    assert [i for s in shards for i in s] == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_two_processes_write_the_single_process_cache(clip_work, tmp_path: Path) -> None:
    dataset, _, _, alone = clip_work
    done = _cornkit("features", "--data", dataset.root, "--work", tmp_path, *TINY, "--processes", 2)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / "features" / alone.key)
    assert done.stdout.count("train and") == 1, "only rank 0 prints"
    cache = tmp_path / "features" / alone.key
    for name in ("train_ids", "test_ids"):
        assert np.array_equal(np.load(cache / f"{name}.npy"), getattr(alone, name))
    for name in ("train", "test"):
        assert np.allclose(np.load(cache / f"{name}.npy"), getattr(alone, name), atol=1e-5, rtol=0)
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["world_size"] == 2 and alone.meta["world_size"] == 1
    assert {k: v for k, v in meta.items() if k != "world_size"} == {k: v for k, v in alone.meta.items() if k != "world_size"}
    n_train = len(dataset.train)
    for rank in (0, 1):
        assert f"CLIP features (train, rank {rank} of 2): {n_train // 2} img in" in done.stderr
    assert "\r" not in done.stderr, "no bar fragments when the output is not a terminal"


def test_a_broken_image_in_rank_1s_shard_ends_both_ranks_with_one_line_and_no_cache(corn_copy: Path, tmp_path: Path) -> None:
    paths = load_dataset(corn_copy).image_paths("train")
    broken = paths[len(paths) - 2]  # in rank 1's half only
    broken.write_bytes(broken.read_bytes()[:200])
    done = _cornkit("features", "--data", corn_copy, "--work", tmp_path, *TINY, "--processes", 2)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"cornkit features: error: rank 1 of 2: feature extraction: image {broken} cannot be read (image file is truncated). "
        "It may be truncated: re-download it."
    ], done.stderr
    assert done.stdout == ""
    features = tmp_path / "features"
    assert not features.exists() or [p for p in features.iterdir() if not p.name.endswith(".lock")] == []  # lock files stay, by design


def test_processes_must_agree_with_torchrun(corn_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["features", "--data", str(corn_dir), "--work", str(tmp_path), *TINY, "--processes", "3"]) == 2
    assert capsys.readouterr().err.strip() == "cornkit features: error: --processes 3, but torchrun started 2 processes: give one or the other."

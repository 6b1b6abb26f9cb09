"""Feature extraction and fine-tuning over two CPU processes (gloo), launched by ``--processes 2`` through torchrun's own launcher.

Each launch costs a few seconds of process start-up (torch and open_clip imported per rank),
so there are few: extraction that must reproduce the single-process cache, a fine-tune that
must write a valid Run close to the single-process one, and for each a launch where rank 1's
share holds a broken image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cornkit.cli import main
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.split import Split, load_split, make_split
from cornkit.data.synth import make_synthetic_corn
from cornkit.distributed import shard
from cornkit.errors import CornkitError
from cornkit.heads.registry import run_head
from cornkit.locks import LOCK_DIR
from cornkit.runs.run import load_run
from cornkit.train.finetune import train_finetune
from cornkit.train.saved_network import run_fold_learner
from cornkit.train.settings import FinetuneSettings

pytestmark = pytest.mark.slow  # launches processes and trains or extracts in each

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ("--model", "cornkit-tiny-clip", "--pretrained", "none")
# A random-weight resnet18 (BatchNorm: kept per process on CPUs), 2 epochs at 48 px: a few seconds a run.
FINETUNE = {"backbone": "timm:resnet18", "pretrained": "none", "size": 48, "lr": 1e-2, "epochs": 2, "lp_epochs": 0, "tta": False}
FINETUNE_FLAGS = ("--backbone", "timm:resnet18", "--pretrained", "none", "--size", 48, "--lr", 1e-2, "--epochs", 2, "--lp-epochs", 0, "--no-tta")


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


THREADS_AT_EXIT = """
import atexit, os
from pathlib import Path


def _record():
    tasks = Path("/proc/self/task").iterdir()
    Path(os.environ["THREADS_OUT"], "rank" + os.environ["RANK"]).write_text(" ".join(sorted((t / "comm").read_text().strip() for t in tasks)))

if "RANK" in os.environ:
    atexit.register(_record)
"""


def test_torchrun_ranks_leave_no_process_group_thread_to_the_interpreter_exit(corn_dir: Path, tmp_path: Path) -> None:
    """``torchrun -m cornkit features``: exit status 0, and no gloo thread still running when each rank's interpreter exits.

    A gloo thread alive at exit is what made rank 0 abort now and then ("terminate called
    without an active exception"); its absence is checked directly (an atexit hook in a
    ``sitecustomize`` records each rank's threads), so the test does not depend on luck.
    """
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(THREADS_AT_EXIT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(SRC)]), "THREADS_OUT": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    for name in ("WORLD_SIZE", "RANK", "TORCHELASTIC_RUN_ID"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*command, "-m", "cornkit", "features", "--data", corn_dir, "--work", tmp_path / "work", *TINY], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        threads = (tmp_path / f"rank{rank}").read_text().split()
        assert not [name for name in threads if "gloo" in name], f"rank {rank} exits with threads {threads}"


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
    assert not features.exists() or [p for p in features.iterdir() if p.name != LOCK_DIR] == []  # the lock folder stays, by design


def test_processes_must_agree_with_torchrun(corn_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["features", "--data", str(corn_dir), "--work", str(tmp_path), *TINY, "--processes", "3"]) == 2
    assert capsys.readouterr().err.strip() == "cornkit features: error: --processes 3, but torchrun started 2 processes: give one or the other."


@pytest.fixture(scope="module")
def finetune_work(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Split, Path]:
    corn = make_synthetic_corn(tmp_path_factory.mktemp("corn"), n_train=120, n_test=12, seed=5).root
    dataset = load_dataset(corn)
    work = tmp_path_factory.mktemp("work")
    return dataset, make_split(dataset, work), work


def test_a_two_process_finetune_writes_the_run_of_one_model_in_split_order_close_to_one_process(finetune_work) -> None:
    dataset, split, work = finetune_work
    alone = train_finetune(dataset, split, work, FinetuneSettings(**FINETUNE, batch_size=16))
    done = _cornkit("finetune", "--data", dataset.root, "--work", work, *FINETUNE_FLAGS, "--batch-size", 8, "--processes", 2)
    assert done.returncode == 0, done.stderr
    run = load_run(done.stdout.strip().splitlines()[-1], work)
    assert run.run_id != alone.run_id
    assert (run.config["processes"], run.config["global_batch_size"]) == (2, 16)
    assert (alone.config["processes"], alone.config["global_batch_size"]) == (1, 16)
    assert done.stderr.count("epoch 2/2 (all layers)") == 1, "only rank 0 prints"
    for rank in (0, 1):
        assert f"checking images, rank {rank} of 2: {(len(dataset.train) + len(dataset.test)) // 2} img" in done.stderr

    # Gathered in the split's row order, and made by the one exported model: rank 0's, which both ranks trained together.
    assert np.array_equal(run.val_ids, split.evaluation_ids()) and np.array_equal(run.test_ids, dataset.ids("test"))
    paths = dict(zip(dataset.ids("train"), dataset.image_paths("train"), strict=True))
    rows = pd.DataFrame({"id": run.val_ids, "path": [str(paths[i]) for i in run.val_ids], "label": run.val_labels})
    learn = run_fold_learner(run.path, 0, rows)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
    assert np.allclose(probs.numpy(), run.val_probs, atol=1e-4)

    # Within noise: three standard errors of the difference of two accuracies on these rows.
    accuracies = np.array([alone.metrics["val_accuracy"], run.metrics["val_accuracy"]])
    pooled = accuracies.mean()
    noise = 3 * np.sqrt(2 * pooled * (1 - pooled) / len(run.val_ids))
    assert abs(accuracies[0] - accuracies[1]) <= noise, (accuracies, noise)


def test_a_broken_image_in_rank_1s_share_ends_a_finetune_with_one_line_and_no_run(corn_copy: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_copy)
    make_split(dataset, tmp_path)
    broken = dataset.image_paths("test")[-1]  # the last of every image: rank 1's share
    broken.write_bytes(broken.read_bytes()[:200])
    done = _cornkit("finetune", "--data", corn_copy, "--work", tmp_path, *FINETUNE_FLAGS, "--processes", 2)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    test_id = dataset.ids("test")[-1]
    assert errors == [
        f"cornkit finetune: error: rank 1 of 2: image of {dataset.id_column} {test_id}: image {broken} cannot be read (image file is truncated). "
        "It may be truncated: re-download it."
    ], done.stderr
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] in ([], [LOCK_DIR])
    assert load_split(tmp_path).split_id


@pytest.mark.skipif(torch.cuda.is_available(), reason="asserts what a machine without a GPU prints (0 GPU(s), no GPU); this machine has one")
def test_gpus_asks_for_what_the_machine_has(corn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--data", str(corn_dir), "--work", str(tmp_path), *TINY]
    assert main(["features", *work, "--gpus", "2"]) == 2
    assert capsys.readouterr().err.strip() == "cornkit features: error: --gpus 2: this machine has 0 GPU(s). Give --gpus auto."
    assert main(["features", *work, "--gpus", "auto", "--device", "cpu"]) == 2
    assert "--gpus auto with --device cpu: give one or the other" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", *work[:4], "--gpus", "2", "--processes", "2"])
    assert "argument --processes: not allowed with argument --gpus" in capsys.readouterr().err
    assert main(["features", *work, "--gpus", "auto"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no GPU: one process on the CPU" and out[-1].startswith(str(tmp_path / "features"))


def test_the_python_api_refuses_to_start_processes(finetune_work) -> None:
    dataset, split, work = finetune_work
    with pytest.raises(CornkitError, match=r"gpus='auto': several processes are started by the command line; run `cornkit finetune \.\.\. --gpus auto`"):
        run_head("finetune", dataset, split, work, gpus="auto")

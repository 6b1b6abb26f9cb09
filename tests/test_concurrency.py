"""Several cornkit processes at once on the same files: no lost rows, no Errno 39, one intact cache."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cornkit.atomic import atomic_dir
from cornkit.locks import LOCK_DIR, locked

FORK = multiprocessing.get_context("fork")


def _in_processes(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` forked processes released together; return what each returned (or raise what one raised)."""
    barrier, results = FORK.Barrier(n), FORK.Queue()

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results.put((i, "ok", work(i)))
        except BaseException:
            results.put((i, "error", traceback.format_exc()))

    processes = [FORK.Process(target=body, args=(i,)) for i in range(n)]
    for process in processes:
        process.start()
    answers = dict((i, (status, value)) for i, status, value in (results.get(timeout=120) for _ in processes))
    for process in processes:
        process.join(timeout=60)
    errors = [value for status, value in answers.values() if status == "error"]
    assert not errors, errors[0]
    return [answers[i][1] for i in range(n)]


@pytest.mark.slow
def test_concurrent_submissions_keep_every_ledger_row(tmp_path: Path) -> None:
    from cornkit.kaggle.submission import read_ledger, record_submission

    frame = pd.DataFrame({"seed_id": [1, 2], "label": ["a", "b"]})
    n, rounds = 6, 3
    for r in range(rounds):
        _in_processes(n, lambda i, r=r: record_submission(frame, f"run-{r}-{i}", "probe", "m", 0.5, tmp_path).recorded)
    ledger = read_ledger(tmp_path)
    assert sorted(ledger["run_id"]) == sorted(f"run-{r}-{i}" for r in range(rounds) for i in range(n))
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_concurrent_folder_swaps_never_fail_and_leave_one_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "r"

    def swap(i: int) -> None:
        for k in range(15):
            with atomic_dir(target) as folder:
                for name in ("a", "b", "c"):
                    (folder / name).write_text(f"{i}-{k}")

    _in_processes(4, swap)
    contents = {(target / name).read_text() for name in ("a", "b", "c")}
    assert len(contents) == 1  # all three files from the same writer
    assert [p.name for p in target.parent.iterdir() if p.name != LOCK_DIR] == ["r"]


def test_concurrent_forced_splits_leave_one_writer_s_pair(corn_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four processes force four different splits at once: the lock serialises each write of split.csv then split.json.

    Every writer gets back the split it asked for, and the folder ends with the CSV and JSON of one
    of them: the recorded parameters remake the recorded CSV. The writes are slowed between the
    CSV and the JSON (the JSON's hash is taken after the pause) so that without the lock the
    writers interleave: a JSON with one writer's parameters over another's CSV, and a writer handed
    back someone else's split. (The same split asked for by every process agrees even unlocked,
    ``make_split`` being deterministic, so it could not show the race.)
    """
    import cornkit.data.split as split_module
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import load_split, make_split

    dataset = load_dataset(corn_dir, check_images=False)
    asked = [{"seed": i, "valid_frac": 0.2 + 0.05 * i} for i in range(4)]
    expected = [make_split(dataset, tmp_path / f"alone-{i}", **kwargs).split_id for i, kwargs in enumerate(asked)]
    assert len(set(expected)) == len(asked)  # four different CSVs, so a mixed pair cannot pass for one writer's
    real_write_csv = split_module.write_csv

    def slow_write_csv(*args: Any, **kwargs: Any) -> Any:
        written = real_write_csv(*args, **kwargs)
        time.sleep(0.2)  # a wide window between the CSV and its JSON
        return written

    monkeypatch.setattr(split_module, "write_csv", slow_write_csv)  # the forked children inherit it
    work = tmp_path / "shared"
    got = _in_processes(len(asked), lambda i: make_split(dataset, work, force=True, **asked[i]).split_id)
    assert got == expected  # each writer read back its own split, not another's
    final = load_split(work, dataset)  # split.json's split_id is the hash of split.csv
    writer = [i for i, kwargs in enumerate(asked) if {k: final.params[k] for k in kwargs} == kwargs]
    assert len(writer) == 1 and final.split_id == expected[writer[0]]  # the parameters recorded made the CSV recorded


@pytest.mark.slow
def test_two_feature_commands_on_one_model_give_one_intact_cache(corn_dir: Path, tmp_path: Path, tiny_clip) -> None:
    """Two real ``cornkit features`` processes (forking a process that already ran torch can deadlock in its thread pool)."""
    from cornkit.clip.features import FEATURES_DIR, extract_features
    from cornkit.data.dataset import load_dataset

    command = [sys.executable, "-m", "cornkit", "features", "--data", str(corn_dir), "--work", str(tmp_path)]
    command += ["--model", tiny_clip.model, "--pretrained", tiny_clip.pretrained, "--workers", "0"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    assert outputs[0][0].splitlines()[-1] == outputs[1][0].splitlines()[-1]  # the same cache folder
    entries = [p for p in (tmp_path / FEATURES_DIR).iterdir() if p.name != LOCK_DIR]
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    again = extract_features(load_dataset(corn_dir), tmp_path, tiny_clip)
    assert again.train.shape[0] == len(again.train_ids) and np.allclose(np.linalg.norm(again.train, axis=1), 1, atol=1e-3)


def test_lock_files_stay_out_of_git_status(tmp_path: Path) -> None:
    """filelock leaves its files on POSIX: they go to one hidden folder per folder, which git ignores."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for guarded in (tmp_path / "submissions" / "ledger.csv", tmp_path / "work" / "split.csv", tmp_path / "work" / "runs" / "r1"):
        with locked(guarded, "test"):
            pass
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    assert sorted(p.name for p in (tmp_path / "submissions").iterdir()) == [LOCK_DIR]

"""Finding Runs by id prefix, and living with a damaged one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import validation_rows
from cornkit.cli import main
from cornkit.errors import CornkitError
from cornkit.runs.run import list_runs, load_run, make_run, save_run


def _saved_run(work: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    run = make_run(
        approach="probe",
        model="m",
        classes=("a", "b"),
        split=validation_rows([1, 2, 3], ["a", "b", "a"], "test-split"),
        val_probs=rng.dirichlet([1, 1], 3),
        test_ids=[10, 11],
        test_probs=rng.dirichlet([1, 1], 2),
        config={},
        seed=seed,
    )
    save_run(run, work)
    return run.run_id


def test_a_prefix_finds_its_run_and_an_ambiguous_one_lists_the_matches(tmp_path: Path) -> None:
    ids = [_saved_run(tmp_path, seed) for seed in range(2)]
    assert load_run(ids[0][:-2], tmp_path).run_id == ids[0]
    with pytest.raises(CornkitError, match=r"could be any of 2 Runs .*give more of the run id") as error:
        load_run("probe-m-", tmp_path)
    assert all(run_id in str(error.value) for run_id in ids)


def test_a_damaged_run_is_skipped_by_the_listing_and_named_when_loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = (_saved_run(tmp_path, seed) for seed in range(2))
    (tmp_path / "runs" / bad / "config.json").write_text('{"approach": "probe"}')
    with pytest.raises(CornkitError, match=r"config\.json names no class list"):
        load_run(bad, tmp_path)
    assert [run.run_id for run in list_runs(tmp_path)] == [good]
    assert f"skipping {bad}" in capsys.readouterr().err
    assert main(["runs", "--work", str(tmp_path)]) == 0
    assert good in capsys.readouterr().out

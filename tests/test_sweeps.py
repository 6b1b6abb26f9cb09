"""cornkit sweep: search spaces from the declarations, trials that are Runs, exact counts, honest objectives, pruning, SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from conftest import cli, one_line_error
from cornkit.clip.model import TINY_MODEL
from cornkit.data.dataset import load_dataset
from cornkit.data.split import make_split
from cornkit.errors import CornkitError
from cornkit.heads.finetune import HEAD as FINETUNE
from cornkit.heads.probe import HEAD as PROBE
from cornkit.heads.probe import ProbeParams
from cornkit.heads.registry import Head, HeadContext, get_head
from cornkit.runs.run import load_run
from cornkit.sweeps.objective import features_objective
from cornkit.sweeps.params import SweepParams
from cornkit.sweeps.space import default_space, parse_space, search_space, space_text
from cornkit.sweeps.storage import embedded_url
from cornkit.sweeps.study import RUN_ID_ATTR, WORKER_ATTR, Sweep, load_study
from cornkit.train.settings import FinetuneSettings

TINY = ["--model", TINY_MODEL, "--pretrained", "none"]
WORKER = Path(__file__).with_name("sweep_worker.py")


def _trials(work: Path, study: str, url: str | None = None) -> list[optuna.trial.FrozenTrial]:
    return load_study(study, url or embedded_url(work)).get_trials()


# --- the search space ---------------------------------------------------------------------------


def test_each_head_declares_a_default_space_inside_its_own_ranges():
    assert space_text(default_space(ProbeParams)) == "cs=0.001..10000:log,alpha=0..1"
    assert space_text(default_space(FinetuneSettings)) == "epochs=2..16,lr=1e-05..0.01:log,mixup=0..0.4,label_smoothing=0..0.2"


def test_space_text_is_checked_against_the_declarations():
    dims = parse_space("lr=1e-5..1e-3:log, epochs=4..16, mixup=0..0.4, schedule=one-cycle|cosine", FinetuneSettings)
    assert [(d.name, d.range.scale) for d in dims] == [("lr", "log"), ("epochs", "int"), ("mixup", "linear"), ("schedule", "linear")]
    assert dims[3].range.choices == ("one-cycle", "cosine")
    refusals = {
        "mixup=-1..0.4": "outside its declared range [0, 100]",
        "label_smoothing=0..1": "outside its declared range [0, 1)",
        "epochs=0..4": "outside its declared range 1..",
        "epochs=1.5..4": "whole numbers",
        "lr=0..1e-3:log": "log-scale search range starts above 0",
        "schedule=one-cycle|warp": "'warp' is refused",
        "lrr=1e-5..1e-3": "no parameter called 'lrr'",
        "lr=1e-3": "write a range",
    }
    for text, reason in refusals.items():
        with pytest.raises(CornkitError, match=reason.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")):
            parse_space(text, FinetuneSettings)


def test_a_fixed_flag_leaves_the_space_and_cannot_be_swept_as_well():
    assert [d.name for d in search_space(ProbeParams, None, {"alpha"}, "probe")] == ["cs"]
    with pytest.raises(CornkitError, match="--alpha fixes alpha, and --space sweeps it"):
        search_space(ProbeParams, "alpha=0..1", {"alpha"}, "probe")
    with pytest.raises(CornkitError, match="nothing left to sweep"):
        search_space(ProbeParams, None, {"alpha", "cs"}, "probe")
    with pytest.raises(CornkitError, match="zeroshot declares no parameter to sweep by default"):
        search_space(get_head("zeroshot").params, None, set(), "zeroshot")


@settings(max_examples=40, deadline=None)
@given(low=st.floats(1e-6, 1.0), width=st.floats(1.01, 1e4), log=st.booleans(), epochs=st.tuples(st.integers(1, 50), st.integers(1, 50)))
def test_every_suggestion_of_an_accepted_space_builds_valid_parameters(low, width, log, epochs):
    lo_e, hi_e = sorted(epochs)
    hi_e += lo_e == hi_e
    text = f"lr={low!r}..{low * width!r}{':log' if log else ''},epochs={lo_e}..{hi_e},mixup=0..0.4"
    dims = parse_space(text, FinetuneSettings)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        values = {d.name: d.suggest(trial) for d in dims}
        settings_ = FINETUNE.build_params(**values)
        assert low <= settings_.lr <= low * width * (1 + 1e-12)
        assert lo_e <= settings_.epochs <= hi_e and isinstance(settings_.epochs, int)
        study.tell(trial, 0.0)


def test_cli_refuses_a_bad_space_before_any_trial(sweep_work, capsys):
    dataset, _split, work = sweep_work
    code, _, err = cli(capsys, "sweep", "finetune", "--data", dataset.root, "--work", work, "--trials", 2, "--space", "mixup=-1..0.4")
    one_line_error(code, err, "--space: mixup=-1..0.4 reaches -1, outside its declared range [0, 100]")
    assert not (work / "sweeps").exists() and not (work / "runs").exists()
    code, _, err = cli(capsys, "sweep", "finetune", "--data", dataset.root, "--work", work, "--trials", 2, "--monitor-frac", 0)
    one_line_error(code, err, "--monitor-frac 0", "monitor rows")


# --- trials are Runs, counted exactly ------------------------------------------------------------


def test_sweep_probe_makes_exactly_n_runs_and_a_rerun_changes_nothing(sweep_work, capsys):
    dataset, _split, work = sweep_work
    argv = ["sweep", "probe", "--data", dataset.root, "--work", work, "--trials", 8, *TINY]
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    study = out.splitlines()[0].split()[1].rstrip(":")
    trials = _trials(work, study)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    run_ids = [t.user_attrs[RUN_ID_ATTR] for t in trials]
    cs = [t.params["cs"] for t in trials]
    assert max(cs) / min(cs) > 100  # the seeded draws spread over the log range (per-trial streams do not start alike)
    assert all((work / "runs" / run_id / "metrics.json").is_file() for run_id in run_ids)
    best = min(trials, key=lambda t: (-t.value, t.number))
    assert out.splitlines()[-1] == best.user_attrs[RUN_ID_ATTR]
    assert f"best trial {best.number}: objective accuracy {best.value:.4f}" in out
    runs_before = {p.name: p.stat().st_mtime_ns for p in (work / "runs").iterdir()}

    code, again, err = cli(capsys, *argv)
    assert code == 0, err
    assert again == out
    assert len(_trials(work, study)) == 8
    assert {p.name: p.stat().st_mtime_ns for p in (work / "runs").iterdir()} == runs_before

    code, shown, err = cli(capsys, "sweep", "show", study, "--work", work)
    assert code == 0, err
    assert shown.splitlines()[-1] == str(work / "sweeps" / study)
    assert {"trials.csv", "history.png", "importance.png"} <= {p.name for p in (work / "sweeps" / study).iterdir()}
    assert all(run_id in shown for run_id in run_ids)
    code, _, err = cli(capsys, "report", "--work", work)
    assert code == 0, err
    page = (work / "report.html").read_text()
    assert f"sweeps/{study}/history.png" not in page  # copied beside the page, captioned with the study
    assert f'<h3 id="sweep-0">study {study}</h3>' in page
    assert f"a sweep&#39;s objective, trial by trial (cornkit sweep show): {study}" in page
    assert all(f"<td>{run_id}</td>" in page for run_id in run_ids)
    assert page.count("<td>COMPLETE</td>") == 8


def test_a_repeated_draw_reuses_its_run_and_other_flags_make_another_study(sweep_work, capsys):
    dataset, _split, work = sweep_work
    base = ["sweep", "probe", "--data", dataset.root, "--work", work, *TINY, "--alpha", "1"]
    code, out, err = cli(capsys, *base, "--trials", 3, "--space", "class_weight=balanced|balanced")
    assert code == 0, err
    study = out.splitlines()[0].split()[1].rstrip(":")
    trials = _trials(work, study)
    assert len({t.user_attrs[RUN_ID_ATTR] for t in trials}) == 1  # one parameter set: trained once, reused twice
    assert err.count("(its Run was made already)") == 2
    code, out2, err = cli(capsys, *base, "--trials", 3, "--cv-folds", 3)
    assert code == 0, err
    assert out2.splitlines()[0].split()[1] != study + ":"
    code, _, err = cli(capsys, *base, "--trials", 3, "--study", study)
    one_line_error(code, err, f"study {study!r} sweeps")


def test_no_validation_row_reaches_the_objective(kfold_work):
    dataset, split, work = kfold_work
    touched: dict[tuple[int, str], set[str]] = {}

    def watch(fold: int, what: str, ids: np.ndarray) -> None:
        touched.setdefault((fold, what), set()).update(map(str, ids))

    ctx = HeadContext(dataset, split, work, PROBE.build_params(model=TINY_MODEL, pretrained="none", cs=(1.0,)))
    assert 0.0 <= features_objective(ctx, PROBE, watch) <= 1.0
    for fold in range(split.n_folds):
        valid, train = set(map(str, split.valid_ids(fold))), set(map(str, split.train_ids(fold)))
        assert not (touched[fold, "fit"] | touched[fold, "predict"]) & valid
        assert touched[fold, "predict"] == train  # every training row is held out once, and nothing else is predicted


# --- pruning ----------------------------------------------------------------------------------


def test_a_pruned_trial_is_recorded_as_pruned_with_its_last_value(sweep_work):
    dataset, split, work = sweep_work
    scores = [0.3, 0.2]

    def make_run(ctx: HeadContext):
        for step, score in enumerate(scores):
            assert ctx.epoch_report is not None
            ctx.epoch_report(step, score)
        raise AssertionError("a pruned trial trains no further")

    head = Head(name="epochs", help="reports epochs", params=FinetuneSettings, make_run=make_run, inputs="images")
    options = SweepParams(trials=2, space="lr=1e-4..1e-2:log")
    result = Sweep(head, dataset, split, work, {}, options, pruner=optuna.pruners.ThresholdPruner(lower=0.25)).run()
    assert result.run_id is None and result.finished == 2
    trials = _trials(work, result.study)
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert [t.value for t in trials] == [0.2, 0.2]
    assert [dict(t.intermediate_values) for t in trials] == [{0: 0.3, 1: 0.2}] * 2


# --- several processes, and a SIGKILL ---------------------------------------------------------


def _worker(work: Path, data: Path, trials: int, *extra: object) -> subprocess.Popen[str]:
    argv = [sys.executable, str(WORKER), "--data", str(data), "--work", str(work), "--trials", str(trials), *map(str, extra)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def check_two_workers_share_a_study(work: Path, data: Path, url: str | None) -> None:
    storage = () if url is None else ("--storage", url)
    workers = [_worker(work, data, 6, *storage) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = _trials(work, "shared", url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert sorted(t.number for t in trials) == list(range(6))
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2
    assert outputs[0][0] == outputs[1][0]  # both print the same best Run


def check_a_sigkilled_trial_is_retried(work: Path, data: Path, url: str | None) -> None:
    storage = () if url is None else ("--storage", url)
    stall = work.parent / "stalled"
    victim = _worker(work, data, 3, *storage, "--study", "killed", "--heartbeat", 1, "--stall", stall)
    _wait_for(stall, victim)
    [running] = [t for t in _trials(work, "killed", url) if t.state == TrialState.RUNNING]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    time.sleep(2.5)  # past the grace period (twice the heartbeat)
    survivor = _worker(work, data, 3, *storage, "--study", "killed", "--heartbeat", 1)
    _, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err
    trials = _trials(work, "killed", url)
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states
    assert states.count(TrialState.COMPLETE) == 3
    assert trials[running.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == running.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE and retried[0].params == running.params


@pytest.mark.slow
def test_two_processes_share_an_embedded_study(sweep_work):
    dataset, _split, work = sweep_work
    check_two_workers_share_a_study(work, dataset.root, None)


@pytest.mark.slow
def test_a_sigkilled_embedded_sweep_finishes_when_started_again(sweep_work):
    dataset, _split, work = sweep_work
    check_a_sigkilled_trial_is_retried(work, dataset.root, None)


@pytest.mark.slow
def test_sweep_workers_flag_starts_more_workers_on_one_study(sweep_work, capsys):
    dataset, _split, work = sweep_work
    code, out, err = cli(capsys, "sweep", "probe", "--data", dataset.root, "--work", work, "--trials", 4, "--workers", 2, *TINY)
    assert code == 0, err
    study = out.splitlines()[0].split()[1].rstrip(":")
    trials = _trials(work, study)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2
    assert np.isfinite([t.value for t in trials]).all()


# --- PostgreSQL, a real server on loopback ----------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url():
    from postgres_cluster import find_binaries, postgres_cluster

    if find_binaries() is None:
        pytest.skip("PostgreSQL is not installed here (no initdb); .ci/run installs Debian's postgresql")
    with postgres_cluster() as url:
        yield url


@pytest.mark.slow
def test_two_processes_share_a_postgres_study(sweep_work, postgres_url):
    dataset, _split, work = sweep_work
    check_two_workers_share_a_study(work, dataset.root, postgres_url)


@pytest.mark.slow
def test_a_sigkilled_postgres_sweep_finishes_when_started_again(sweep_work, postgres_url):
    dataset, _split, work = sweep_work
    check_a_sigkilled_trial_is_retried(work, dataset.root, postgres_url)


def test_a_postgres_server_that_is_down_is_one_line(sweep_work, capsys):
    dataset, _split, work = sweep_work
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://cornkit:secret@127.0.0.1:{port}/postgres"
    code, _, err = cli(capsys, "sweep", "probe", "--data", dataset.root, "--work", work, "--trials", 2, "--storage", url, *TINY)
    line = one_line_error(code, err, f"--storage postgresql://cornkit:***@127.0.0.1:{port}/postgres", "Check the URL")
    assert "secret" not in line


def test_under_log_loss_the_sweep_minimises_the_split_metric(corn_dir, tmp_path, clip_work):
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path / "work", metric="log_loss")
    (tmp_path / "work" / "features").symlink_to(clip_work[3].path.parent)
    options = SweepParams(trials=3, space="cs=1e-3..1e3:log")
    result = Sweep(PROBE, dataset, split, tmp_path / "work", {"model": TINY_MODEL, "pretrained": "none", "alpha": 1.0}, options).run()
    study = load_study(result.study, embedded_url(tmp_path / "work"))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    values = [t.value for t in study.trials]
    assert result.objective == min(values) and result.metric == "log_loss"
    best = load_run(result.run_id, tmp_path / "work")
    assert result.val_score == pytest.approx(best.metrics["val_log_loss"])

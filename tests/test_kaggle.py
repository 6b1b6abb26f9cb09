"""cornkit against the real ``kaggle`` client, talking to the stand-in Kaggle API on loopback.

Every test here runs the ``cornkit`` command line in-process; the client is never mocked. The
stand-in (``kaggle_standin.py``) records what it received, so the tests check both what the
user sees and what went over the wire.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import cli as _cli
from conftest import one_line_error as _one_line_error
from conftest import route_to as _route_to
from conftest import validation_rows
from cornkit.defaults import COMPETITION
from cornkit.kaggle.auth import KaggleCredentials, find_credentials
from cornkit.runs.run import load_run, make_run, save_run
from cornkit.runs.scoring import solution_accuracy
from kaggle_standin import StandinKaggle

SRC = Path(__file__).resolve().parents[1] / "src"


def _save_run(corn: Path, work: Path, approach: str, right_fraction: float) -> str:
    """A Run whose test predictions are right on the first ``right_fraction`` of the test rows."""
    classes = ("broken", "discolored", "pure", "silkcut")
    train = pd.read_csv(corn / "train.csv").head(12)
    solution = pd.read_csv(corn / "solution.csv")
    test_ids = pd.read_csv(corn / "test.csv")["seed_id"].to_numpy()
    truth = solution.set_index("seed_id")["label"].reindex(test_ids).to_numpy()
    n_right = int(len(truth) * right_fraction)
    predicted = np.where(np.arange(len(truth)) < n_right, truth, np.where(truth == "pure", "broken", "pure"))
    test_probs = np.eye(len(classes))[[classes.index(p) for p in predicted]]
    val_probs = np.eye(len(classes))[[classes.index(label) for label in train["label"]]]
    run = make_run(
        approach=approach,
        model="test-model",
        classes=classes,
        split=validation_rows(train["seed_id"], train["label"], "test-split"),
        val_probs=val_probs * 0.6 + 0.1,
        test_ids=test_ids,
        test_probs=test_probs,
        config={"right_fraction": right_fraction},
        seed=0,
    )
    save_run(run, work)
    return run.run_id


def test_download_unzips_once_with_the_client(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    code, out, err = _cli(capsys, "download", "--data", data, "--input-root", tmp_path / "no-kaggle-input")
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == data / "corn"
    assert (data / "corn" / "train.csv").is_file() and not (data / "corn" / "solution.csv").exists()
    (call,) = standin.calls("DownloadDataFiles")
    assert call.body == {"competitionName": COMPETITION} and call.authorization.startswith("Basic ")

    before = len(standin.requests)
    code, out, _ = _cli(capsys, "download", "--data", data, "--input-root", tmp_path / "no-kaggle-input")
    assert code == 0 and "already there" in out and len(standin.requests) == before

    code, out, err = _cli(capsys, "split", "--data", data, "--work", tmp_path / "work")
    assert code == 0, err
    assert (tmp_path / "work" / "split.csv").is_file()


@pytest.mark.parametrize(
    ("evaluation_metric", "expected"),
    [("Multiclass Loss", "log_loss"), ("Quadratic Weighted Kappa", None), ("Some Custom Metric", None)],
)
def test_download_records_the_evaluation_metric_and_split_scores_by_it(
    evaluation_metric: str, expected: str | None, standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kaggle's name for the metric, as its API reports it, becomes the split's metric; one the kit lacks (or that the classes
    cannot take: kappa needs integer labels) is said in one line and the split scores by accuracy."""
    standin.evaluation_metric = evaluation_metric
    data, work = tmp_path / "data", tmp_path / "work"
    code, out, err = _cli(capsys, "download", "--data", data, "--input-root", tmp_path / "no-kaggle-input")
    assert code == 0, err
    (listed,) = standin.calls("ListCompetitions")
    assert listed.body["search"] == COMPETITION
    code, out, err = _cli(capsys, "split", "--data", data, "--work", work)
    if expected == "log_loss":
        assert code == 0, err
        assert f"metric: log_loss (the competition's evaluation metric {evaluation_metric!r}, recorded by cornkit download)" in out
        assert json.loads((work / "split.json").read_text())["metric"] == "log_loss"
    elif evaluation_metric == "Quadratic Weighted Kappa":
        _one_line_error(code, err, "--metric quadratic_kappa needs integer class labels")  # It's Corn's classes are names
    else:
        assert code == 0, err
        assert f"the competition's evaluation metric {evaluation_metric!r} is not one the kit computes; scoring by accuracy" in err
        assert "metric" not in json.loads((work / "split.json").read_text())
    code, _, err = _cli(capsys, "split", "--data", data, "--work", tmp_path / "chosen", "--metric", "accuracy")
    assert code == 0, err  # --metric settles it, whatever was recorded


def test_download_inside_a_kernel_uses_the_mounted_data(home: Path, corn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mounted = tmp_path / "input" / COMPETITION / "corn"
    shutil.copytree(corn, mounted)
    code, out, err = _cli(capsys, "download", "--data", tmp_path / "data", "--input-root", tmp_path / "input")
    assert code == 0, err
    assert "mounted" in out and Path(out.strip().splitlines()[-1]) == mounted
    assert not (tmp_path / "data").exists()


def test_submit_and_leaderboard_show_the_scores_kaggle_computed(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work, submissions = tmp_path / "work", tmp_path / "submissions"
    good = _save_run(corn, work, "probe", right_fraction=0.8)
    local_only = _save_run(corn, work, "zeroshot", right_fraction=0.2)
    common = ("--data", corn, "--work", work, "--submissions", submissions)

    code, out, err = _cli(capsys, "submit", good, *common, "--kaggle", "-m", "first probe")
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == submissions / f"{good}.csv"
    (start,) = standin.calls("StartSubmissionUpload")
    (create,) = standin.calls("CreateSubmission")
    assert start.body["fileName"] == f"{good}.csv" and start.body["competitionName"] == COMPETITION
    assert create.body["submissionDescription"] == f"{good}: first probe"
    assert list(standin.uploads.values()) == [(submissions / f"{good}.csv").read_bytes()]
    assert _cli(capsys, "submit", local_only, *common)[0] == 0

    code, out, err = _cli(capsys, "leaderboard", "--submissions", submissions)
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == submissions / "leaderboard.csv"
    table = pd.read_csv(submissions / "leaderboard.csv")
    expected = solution_accuracy(load_run(good, work), corn / "solution.csv")
    row = table[table["run_id"] == good].iloc[0]
    assert row["approach"] == "probe" and row["status"] == "COMPLETE"
    assert row["public_lb"] == pytest.approx(expected["public"], abs=1e-5)
    assert row["private_lb"] == pytest.approx(expected["private"], abs=1e-5)
    assert row["val_accuracy"] == pytest.approx(1.0)
    unsubmitted = table[table["run_id"] == local_only].iloc[0]
    assert unsubmitted["status"] == "not submitted" and np.isnan(unsubmitted["public_lb"])
    shown = f"{row['public_lb']:.5f}"
    assert shown in out and shown in (submissions / "leaderboard.md").read_text()
    assert (submissions / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert standin.calls("ListSubmissions")[0].body["competitionName"] == COMPETITION


def test_an_invalid_submission_is_refused_before_upload(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work, submissions = tmp_path / "work", tmp_path / "submissions"
    run_id = _save_run(corn, work, "probe", right_fraction=0.5)
    common = ("--data", corn, "--work", work, "--submissions", submissions)
    assert _cli(capsys, "submit", run_id, *common)[0] == 0
    path = submissions / f"{run_id}.csv"
    path.write_text(path.read_text().replace("pure", "popcorn", 1))

    code, _, err = _cli(capsys, "submit", run_id, *common, "--kaggle", "-m", "broken file")
    _one_line_error(code, err, "popcorn", "Nothing was uploaded")
    assert standin.requests == []


def test_kernel_build_push_status_and_output(standin: StandinKaggle, corn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernels = tmp_path / "kernels"
    code, out, err = _cli(capsys, "kernels", "build", "probe", "--kernels", kernels, "--model", "ViT-B-32", "--pretrained", "openai")
    assert code == 0, err
    folder = Path(out.strip().splitlines()[-1])
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta["id"] == f"{standin.username}/cornkit-clip-linear-probe" and meta["competition_sources"] == [COMPETITION]
    notebook = nbformat.read(folder / meta["code_file"], as_version=4)
    nbformat.validate(notebook)

    code, out, err = _cli(capsys, "kernels", "push", "probe", "--kernels", kernels)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == f"http://localhost/code/{meta['id']}"
    (save,) = standin.calls("SaveKernel")
    assert save.body["slug"] == meta["id"] and save.body["newTitle"] == meta["title"]
    assert save.body["competitionDataSources"] == [COMPETITION]
    assert save.body["kernelType"] == "notebook" and save.body["enableGpu"] is True and save.body["enableInternet"] is True
    sent = json.loads(save.body["text"])
    assert [c["source"] for c in sent["cells"]] == [c["source"] for c in notebook.cells]
    everything_sent = json.dumps([r.body for r in standin.requests])
    assert standin.key not in everything_sent and standin.key not in (folder / meta["code_file"]).read_text()

    standin.kernel_statuses = ["RUNNING", "COMPLETE"]
    code, out, err = _cli(capsys, "kernels", "status", "probe", "--kernels", kernels, "--wait", "30", "--interval", "0.01")
    assert code == 0, err
    assert err.splitlines()[:2] == ["probe: RUNNING", "probe: COMPLETE"], "one line per state change"
    assert out.splitlines()[-1].split() == ["probe", meta["id"], "1", "COMPLETE"]
    assert len(standin.calls("GetKernelSessionStatus")) == 2

    sample = pd.read_csv(corn / "sample_submission.csv")
    summary = {"run_id": "probe-ViT-B-32-0badc0de", "approach": "probe", "model": "ViT-B-32", "val_accuracy": 0.75}
    standin.kernel_outputs[meta["id"]] = {"submission.csv": sample.to_csv(index=False).encode(), "cornkit-run.json": json.dumps(summary).encode()}
    work = tmp_path / "work"
    assert _cli(capsys, "split", "--data", corn, "--work", work)[0] == 0
    code, _, err = _cli(capsys, "kernels", "output", "probe", "--kernels", kernels, "--data", corn, "--work", work)
    _one_line_error(code, err, f"kernel {meta['id']} version 1 has no Run in its output", "cornkit kernels status probe", "Nothing was imported")
    assert not (work / "runs").exists() and not list(work.glob(".scratch-*")), "nothing half-imported, no scratch left"


def test_a_failed_kernel_says_why(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernels = tmp_path / "kernels"
    assert _cli(capsys, "kernels", "build", "zeroshot", "--kernels", kernels)[0] == 0
    code, _, err = _cli(capsys, "kernels", "status", "zeroshot", "--kernels", kernels)
    _one_line_error(code, err, "404", "cornkit kernels push zeroshot")
    assert _cli(capsys, "kernels", "push", "zeroshot", "--kernels", kernels)[0] == 0
    standin.kernel_statuses = ["ERROR"]
    code, out, _ = _cli(capsys, "kernels", "status", "zeroshot", "--kernels", kernels)
    assert code == 0 and "ERROR (the notebook raised an exception)" in out
    standin.kernel_statuses = ["QUEUED", "RUNNING", "ERROR"]
    code, _, err = _cli(capsys, "kernels", "status", "zeroshot", "--kernels", kernels, "--wait", "30", "--interval", "0.01")
    _one_line_error(code, err, "failed: the notebook raised an exception")
    assert len(standin.calls("GetKernelSessionStatus")) == 5
    standin.kernel_statuses = ["RUNNING"]
    code, _, err = _cli(capsys, "kernels", "status", "zeroshot", "--kernels", kernels, "--wait", "0")
    _one_line_error(code, err, "still RUNNING", "run this again later")
    assert _cli(capsys, "split", "--data", standin.data_dir, "--work", tmp_path / "work")[0] == 0
    code, _, err = _cli(capsys, "kernels", "output", "zeroshot", "--kernels", kernels, "--data", standin.data_dir, "--work", tmp_path / "work")
    _one_line_error(code, err, "has no Run in its output", "cornkit kernels status zeroshot")


def test_an_internet_off_kernel_must_bring_its_wheels_and_weights(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernels = tmp_path / "kernels"
    offline = ("kernels", "build", "probe", "--kernels", kernels, "--user", "tester", "--no-internet")
    code, _, err = _cli(capsys, *offline)
    _one_line_error(code, err, "open_clip_torch", "--dataset-source")
    code, _, err = _cli(capsys, *offline, "--dataset-source", "tester/wheels")
    _one_line_error(code, err, "laion2b_s32b_b79k", "--pretrained /kaggle/input/")
    assert not kernels.exists()
    weights = "/kaggle/input/vit-h-14/open_clip_pytorch_model.bin"
    assert _cli(capsys, *offline, "--dataset-source", "tester/wheels", "--pretrained", weights)[0] == 0
    meta = json.loads((kernels / "probe" / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and meta["dataset_sources"] == ["tester/wheels"]
    code, _, err = _cli(capsys, "kernels", "build", "convnext", "--kernels", kernels, "--user", "tester", "--no-internet")
    _one_line_error(code, err, "--pretrained hub", "--model-source")


def test_kernel_metadata_is_checked_before_writing_and_before_pushing(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernels = tmp_path / "kernels"
    code, _, err = _cli(capsys, "kernels", "build", "probe", "--kernels", kernels, "--model-source", "not-a-model")
    _one_line_error(code, err, "model_sources", "owner/model/framework/variation/version-number")
    assert not (kernels / "probe").exists()

    assert _cli(capsys, "kernels", "build", "probe", "--kernels", kernels, "--user", "someone-else")[0] == 0
    meta_path = kernels / "probe" / "kernel-metadata.json"
    code, _, err = _cli(capsys, "kernels", "push", "probe", "--kernels", kernels)
    _one_line_error(code, err, "403", "--user")
    meta = json.loads(meta_path.read_text())
    meta["title"] = "Something else entirely"
    meta_path.write_text(json.dumps(meta))
    code, _, err = _cli(capsys, "kernels", "push", "probe", "--kernels", kernels)
    _one_line_error(code, err, "title", "slugify")
    assert len(standin.calls("SaveKernel")) == 1


def test_an_access_token_works_too(standin: StandinKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", standin.token)
    code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    assert code == 0, err
    assert standin.calls("DownloadDataFiles")[-1].authorization == f"Bearer {standin.token}"
    code, _, err = _cli(capsys, "kernels", "build", "probe", "--kernels", tmp_path / "k")
    _one_line_error(code, err, "--user")


def test_wrong_competition_slug(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--competition", "its-corn", "--input-root", tmp_path / "i")
    _one_line_error(code, err, "404", "'its-corn'", "--competition", COMPETITION)


def test_rules_not_accepted(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    standin.rules_accepted = False
    code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    _one_line_error(code, err, "403", f"https://www.kaggle.com/competitions/{COMPETITION}/rules")


def test_wrong_key(standin: StandinKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "not-the-right-key")
    code, out, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    line = _one_line_error(code, err, "401", "KAGGLE_USERNAME/KAGGLE_KEY", "https://www.kaggle.com/settings/api")
    assert "not-the-right-key" not in line + out


def test_missing_credentials_say_where_to_put_them(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    _one_line_error(code, err, "no Kaggle credentials", str(home / ".kaggle" / "kaggle.json"), "KAGGLE_USERNAME")
    assert "Authentication required" not in out + err


def test_unreachable_server(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _route_to(monkeypatch, dead)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key-123")
    code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    _one_line_error(code, err, "cannot reach the Kaggle API", "http://localhost")


def test_a_server_that_never_answers_times_out(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The client sets no timeout of its own; without cornkit's, this command would hang for good."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the Kaggle client hung: no request timeout"))
    signal.alarm(60)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        _route_to(monkeypatch, f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("KAGGLE_USERNAME", "someone")
        monkeypatch.setenv("KAGGLE_KEY", "secret-key-123")
        monkeypatch.setenv("CORNKIT_KAGGLE_TIMEOUT", "0.5")
        code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    signal.alarm(0)
    _one_line_error(code, err, "sent nothing for 0.5 s", "CORNKIT_KAGGLE_TIMEOUT")
    monkeypatch.setenv("CORNKIT_KAGGLE_TIMEOUT", "soon")
    code, _, err = _cli(capsys, "download", "--data", tmp_path / "d", "--input-root", tmp_path / "i")
    _one_line_error(code, err, "CORNKIT_KAGGLE_TIMEOUT='soon'")


def test_leaderboard_without_credentials_keeps_the_local_columns(home: Path, corn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work, submissions = tmp_path / "work", tmp_path / "submissions"
    run_id = _save_run(corn, work, "probe", right_fraction=0.5)
    assert _cli(capsys, "submit", run_id, "--data", corn, "--work", work, "--submissions", submissions)[0] == 0
    code, out, err = _cli(capsys, "leaderboard", "--submissions", submissions)
    assert code == 0, err
    assert run_id in out and "public and private LB are empty: no Kaggle credentials found" in out
    table = pd.read_csv(submissions / "leaderboard.csv")
    assert table["val_accuracy"].tolist() == [1.0] and table["public_lb"].isna().all()


def test_credentials_are_found_where_the_client_looks(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = home / ".kaggle" / "kaggle.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"username": "from-file", "key": "file-secret"}))
    config.chmod(0o644)
    found = find_credentials()
    assert (found.username, found.source) == ("from-file", str(config))
    assert "chmod 600" in found.warning and "file-secret" not in repr(found)

    config.chmod(0o600)
    assert find_credentials().warning is None
    monkeypatch.setenv("KAGGLE_USERNAME", "from-env")
    monkeypatch.setenv("KAGGLE_KEY", "env-secret")
    assert find_credentials().username == "from-env"

    token_file = home / "token.txt"
    token_file.write_text("token-secret\n")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    found = find_credentials()
    assert found.token == "token-secret" and found.source == "KAGGLE_API_TOKEN" and "token-secret" not in repr(found)


def test_every_reader_of_credentials_warns_about_a_readable_file(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``kernels build`` reads kaggle.json only for the username, and warns like every other reader (once)."""
    config = home / ".kaggle" / "kaggle.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"username": "reader", "key": "readable-secret"}))
    config.chmod(0o644)
    code, out, err = _cli(capsys, "kernels", "build", "zeroshot", "--kernels", tmp_path / "kernels")
    assert code == 0, err
    assert err.count(f"warning: {config} is readable by other users of this machine; run `chmod 600 {config}`.") == 1, err
    assert "readable-secret" not in out + err
    find_credentials()
    assert "chmod 600" not in capsys.readouterr().err, "said once per file"


def test_kaggle_secrets_inside_a_kernel(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a kernel the credentials come from Kaggle secrets (``kaggle_secrets`` exists only there)."""
    module = type(sys)("kaggle_secrets")

    class UserSecretsClient:
        def get_secret(self, name: str) -> str:
            if name == "KAGGLE_API_TOKEN":
                raise KeyError(name)
            return {"KAGGLE_USERNAME": "kernel-user", "KAGGLE_KEY": "kernel-secret"}[name]

    module.UserSecretsClient = UserSecretsClient
    monkeypatch.setitem(sys.modules, "kaggle_secrets", module)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    found = find_credentials()
    assert found == KaggleCredentials(source="the KAGGLE_USERNAME/KAGGLE_KEY Kaggle secrets", username="kernel-user", key="kernel-secret")
    assert "kernel-secret" not in repr(found)


def test_commands_that_do_not_talk_to_kaggle_never_import_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOME": str(tmp_path)}
    env.pop("KAGGLE_USERNAME", None)
    env.pop("KAGGLE_KEY", None)
    script = (
        "import sys; from cornkit.cli import main; "
        f"code = main(['synth', '--out', {str(tmp_path / 'synth')!r}, '--n-train', '16', '--n-test', '2']); "
        "assert 'kaggle' not in sys.modules, 'kaggle was imported'; sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Authentication" not in result.stdout + result.stderr
    assert not (tmp_path / ".kaggle").exists() and not (tmp_path / ".config" / "kaggle").exists()


def test_the_accelerator_goes_with_the_push(standin: StandinKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernels = tmp_path / "kernels"
    code, _, err = _cli(capsys, "kernels", "build", "probe", "--kernels", kernels, "--accelerator", "nvidiateslat4")
    assert code == 0, err
    meta = json.loads((kernels / "probe" / "kernel-metadata.json").read_text())
    assert meta["machine_shape"] == "NvidiaTeslaT4" and meta["enable_gpu"] is True
    notebook = nbformat.read(kernels / "probe" / meta["code_file"], as_version=4)
    assert any('"--gpus", "auto"' in cell.source for cell in notebook.cells), "features run on every GPU the kernel finds"

    assert _cli(capsys, "kernels", "push", "probe", "--kernels", kernels)[0] == 0
    assert standin.kernels[meta["id"]]["accelerator"] == "NvidiaTeslaT4"
    code, _, err = _cli(capsys, "kernels", "push", "probe", "--kernels", kernels, "--accelerator", "NvidiaTeslaP100")
    assert code == 0 and "retired" in err
    assert standin.kernels[meta["id"]]["accelerator"] == "NvidiaTeslaP100"

    code, _, err = _cli(capsys, "kernels", "push", "probe", "--kernels", kernels, "--accelerator", "NvidiaA100")
    _one_line_error(code, err, "NvidiaA100", "NvidiaTeslaT4 or NvidiaTeslaP100")
    code, _, err = _cli(capsys, "kernels", "build", "zeroshot", "--kernels", kernels, "--accelerator", "TpuV5E8")
    _one_line_error(code, err, "not TPUs")
    assert len(standin.calls("SaveKernel")) == 2 and not (kernels / "zeroshot").exists()

    code, _, err = _cli(capsys, "kernels", "build", "finetune", "--kernels", kernels, "--accelerator", "NvidiaTeslaT4")
    assert code == 0, err
    meta = json.loads((kernels / "finetune" / "kernel-metadata.json").read_text())
    notebook = nbformat.read(kernels / "finetune" / meta["code_file"], as_version=4)
    head_call = next(cell.source for cell in notebook.cells if cell.source.startswith("RUN = cornkit("))
    assert head_call.startswith('RUN = cornkit("finetune", ') and '"--gpus", "auto"' in head_call, "the fine-tune trains on every GPU"
    assert _cli(capsys, "kernels", "push", "finetune", "--kernels", kernels)[0] == 0
    assert standin.kernels[meta["id"]]["accelerator"] == "NvidiaTeslaT4"


def test_the_known_accelerators_are_the_clients() -> None:
    from kagglesdk.kernels.types.kernels_api_service import ApiSaveKernelRequest

    from cornkit.kaggle.accelerators import GPU_ACCELERATORS, TPU_ACCELERATORS

    listed = {line.strip()[2:] for line in (ApiSaveKernelRequest.__doc__ or "").splitlines() if line.strip().startswith("* ")}
    assert "NvidiaTeslaT4" in listed and listed <= {*GPU_ACCELERATORS, *TPU_ACCELERATORS}

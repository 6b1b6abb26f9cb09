"""A blip from Kaggle (HTTP 503, 429, a reset connection) does not end a push or a wait; a refusal (403) ends it in one line.

The stand-in Kaggle API (``kaggle_standin.py``) answers a method's next calls with the failures
a test queues in ``failures``, then normally, and the official client talks to it as to Kaggle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import cli, one_line_error
from cornkit.kaggle.client import RETRIES, retry_delays
from kaggle_standin import StandinKaggle

Capsys = pytest.CaptureFixture[str]
BLIPS = [503, 429, "reset"]


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries and polls a hundredth of a second apart instead of seconds."""
    monkeypatch.setenv("CORNKIT_KAGGLE_RETRY_S", "0.01")
    monkeypatch.setenv("CORNKIT_KERNEL_POLL_S", "0.01")


def _build(capsys: Capsys, kernels: Path) -> str:
    """A GPU probe kernel ``a``; its Kaggle id."""
    code, _, err = cli(capsys, "kernels", "build", "probe", "--name", "a", "--kernels", kernels)
    assert code == 0, err
    return "cornkit-tester/cornkit-clip-linear-probe-a"


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


def _said(failure: int | str) -> str:
    return "(ProxyError)" if failure == "reset" else f"(HTTP {failure})"  # a reset reaches requests through the proxy the tests route by


@pytest.mark.parametrize("failure", BLIPS)
def test_a_push_that_meets_one_blip_still_pushes(standin: StandinKaggle, quick_retries: None, tmp_path: Path, capsys: Capsys, failure: int | str) -> None:
    kernel_id = _build(capsys, tmp_path)
    standin.failures["SaveKernel"] = [failure]
    code, out, err = cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)
    assert code == 0, err
    assert _warnings(err) == [f"warning: could not push kernel {kernel_id} {_said(failure)}: trying again in 0.01 s (retry 1 of {RETRIES})"], err
    assert len(standin.calls("SaveKernel")) == 2 and standin.kernels[kernel_id]["version"] == 1
    assert out.splitlines()[-1] == f"http://localhost/code/{kernel_id}"


@pytest.mark.parametrize("failure", BLIPS)
def test_a_status_wait_that_meets_one_blip_still_finishes(
    standin: StandinKaggle, quick_retries: None, tmp_path: Path, capsys: Capsys, failure: int | str
) -> None:
    kernel_id = _build(capsys, tmp_path)
    assert cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)[0] == 0
    standin.kernel_statuses = ["RUNNING", "COMPLETE"]
    standin.failures["GetKernelSessionStatus"] = [failure]
    code, out, err = cli(capsys, "kernels", "status", "a", "--kernels", tmp_path, "--wait", "30")
    assert code == 0, err
    assert _warnings(err) == [f"warning: could not get the status of kernel {kernel_id} {_said(failure)}: trying again in 0.01 s (retry 1 of {RETRIES})"]
    assert "a: RUNNING" in err.splitlines() and out.splitlines()[-1].split()[-1] == "COMPLETE"
    assert len(standin.calls("GetKernelSessionStatus")) == 3


def test_a_refusal_ends_a_push_or_a_wait_in_one_line_at_once(standin: StandinKaggle, quick_retries: None, tmp_path: Path, capsys: Capsys) -> None:
    _build(capsys, tmp_path)
    standin.failures["SaveKernel"] = [403] * 10
    code, _, err = cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)
    one_line_error(code, err, "could not push kernel", "403 Forbidden", "--user")
    assert len(standin.calls("SaveKernel")) == 1 and not _warnings(err)

    standin.failures["SaveKernel"] = []
    assert cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)[0] == 0
    standin.kernel_statuses = ["RUNNING"]
    standin.failures["GetKernelSessionStatus"] = [403] * 10
    code, _, err = cli(capsys, "kernels", "status", "a", "--kernels", tmp_path, "--wait", "30")
    one_line_error(code, err, "could not get the status of kernel", "denied")  # the client words this 403 itself
    assert len(standin.calls("GetKernelSessionStatus")) == 1 and not _warnings(err)


def test_a_server_that_stays_busy_ends_the_push_after_the_last_retry(standin: StandinKaggle, quick_retries: None, tmp_path: Path, capsys: Capsys) -> None:
    _build(capsys, tmp_path)
    standin.failures["SaveKernel"] = [503] * (RETRIES + 5)
    code, _, err = cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)
    one_line_error(code, err, "could not push kernel", "HTTP 503", "Try again later")
    waits = [line.split("trying again in ")[1].split(" s ")[0] for line in _warnings(err)]
    assert waits == ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32"] and len(standin.calls("SaveKernel")) == RETRIES + 1


def test_the_waits_double_up_to_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    assert retry_delays() == [5, 10, 20, 40, 60, 60]
    monkeypatch.setenv("CORNKIT_KAGGLE_RETRY_S", "90")
    assert retry_delays() == [90] * RETRIES


def test_an_unreadable_quota_is_one_line_and_the_push_goes_ahead(standin: StandinKaggle, quick_retries: None, tmp_path: Path, capsys: Capsys) -> None:
    kernel_id = _build(capsys, tmp_path)
    standin.failures["GetAcceleratorQuotaStatistics"] = [503]
    code, out, err = cli(capsys, "kernels", "push", "a", "--kernels", tmp_path)
    assert code == 0, err
    (warning,) = _warnings(err)
    assert warning.startswith("warning: GPU quota not checked, pushing anyway: could not read the weekly GPU quota: Kaggle answered HTTP 503"), err
    assert len(standin.calls("GetAcceleratorQuotaStatistics")) == 1 and standin.kernels[kernel_id]["version"] == 1
    assert out.splitlines()[-1] == f"http://localhost/code/{kernel_id}"

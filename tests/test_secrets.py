"""No form of the Kaggle key (plain, base64 Basic header, bearer token) in any output, whatever the verbosity."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from conftest import cli as _cli
from cornkit.kaggle.auth import KaggleCredentials
from cornkit.redact import redact, secret_forms
from kaggle_standin import StandinKaggle
from test_kaggle import _save_run


def _leaks(state: StandinKaggle, text: str) -> list[str]:
    basic = base64.b64encode(f"{state.username}:{state.key}".encode()).decode()
    return [form for form in (state.key, state.token, basic, basic.rstrip("=")) if form in text]


@pytest.fixture
def verbose_client(standin: StandinKaggle, monkeypatch: pytest.MonkeyPatch) -> StandinKaggle:
    """The stand-in echoing request headers in its errors, and the client in its VERBOSE=1 mode (prints every header)."""
    from cornkit.kaggle.client import _import_client

    api = _import_client()
    monkeypatch.setattr(api, "args", [*api.args, "--verbose"])
    standin.echo_requests = True
    return standin


def test_an_echoing_server_and_a_verbose_client_never_show_the_key(
    verbose_client: StandinKaggle,
    corn: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    try:
        wrong = _cli(capsys, "download", "--data", tmp_path / "d", "--competition", "its-corn", "--input-root", tmp_path / "i")
        work, submissions = tmp_path / "work", tmp_path / "subs"
        run_id = _save_run(corn, work, "probe", right_fraction=0.5)
        submitted = _cli(capsys, "submit", run_id, "--data", corn, "--work", work, "--submissions", submissions, "--kaggle", "-m", "m")
        board = _cli(capsys, "leaderboard", "--submissions", submissions)
    finally:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    assert wrong[0] == 2 and "Authorization: Basic ***" in wrong[2], wrong[2]  # the echo reached the message, masked
    assert submitted[0] == 0 and board[0] == 0, submitted[2] + board[2]
    everything = "".join(out + err for _, out, err in (wrong, submitted, board))
    assert "Basic ***" in everything  # the client's verbose request print, masked
    assert _leaks(verbose_client, everything) == []
    assert _leaks(verbose_client, "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())) == []


def test_a_bearer_token_is_masked_too(verbose_client: StandinKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", verbose_client.token)
    code, out, err = _cli(capsys, "download", "--data", tmp_path / "d", "--competition", "its-corn", "--input-root", tmp_path / "i")
    assert code == 2 and "Bearer ***" in out + err
    assert _leaks(verbose_client, out + err) == []


def test_every_spelling_of_the_secret_is_blanked() -> None:
    credentials = KaggleCredentials(source="test", username="alice", key="s3cr3t-key-value")
    basic = base64.b64encode(b"alice:s3cr3t-key-value").decode()
    text = f"key s3cr3t-key-value header Basic {basic} urlsafe {base64.urlsafe_b64encode(b'alice:s3cr3t-key-value').decode().rstrip('=')}"
    cleaned = credentials.redact(text)
    assert "s3cr3t" not in cleaned and basic not in cleaned and cleaned.count("***") == 3
    assert redact("plain s3cr3t-key-value") == "plain ***"  # registered for the whole process once found
    assert "ab" not in secret_forms("u", "ab", None)  # too short to blank safely

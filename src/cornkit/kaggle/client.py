"""The official ``kaggle`` client, imported late and quietly, with its failures made readable.

``import kaggle`` authenticates at import time and prints a long login banner when no
credentials exist (and kaggle 2.2.4 needs ``six`` without declaring it), so cornkit imports it
only inside the commands that talk to Kaggle and hands it the credentials
:mod:`cornkit.kaggle_auth` found. :func:`kaggle_call` turns what the client raises (HTTP 401,
403, 404, a refused connection, its own ``ValueError`` checks) into one
:class:`~cornkit.errors.CornkitError` line that says what to do; the secret never appears in it.
The client sends its requests without a timeout, so a server that accepts a connection and
never answers would hang the command; inside :func:`kaggle_call` every request gets one
(``CORNKIT_KAGGLE_TIMEOUT`` seconds of silence, default 60). A call made with ``retry=True``
(a push, a status poll: one blip must not end a fan-out that has waited for hours) meets a busy
or briefly unreachable server (HTTP 429 or 5xx, a reset or refused connection, a timeout) up to
:data:`RETRIES` more times, waiting ``CORNKIT_KAGGLE_RETRY_S`` seconds (default 5) and twice as
long each time, at most a minute, with one warning line per retry; a refusal (401, 403, 404)
fails at once. A push Kaggle took but answered 5xx becomes one version more: a kernel's
versions are numbered, so nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CornkitError
from .auth import TOKEN_URL, KaggleCredentials, find_credentials

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

T = TypeVar("T")
TIMEOUT_ENV = "CORNKIT_KAGGLE_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
RETRY_ENV = "CORNKIT_KAGGLE_RETRY_S"
DEFAULT_RETRY_S = 5.0
RETRY_CAP_S = 60.0
RETRIES = 6
"""Retries of a transient failure: 5 + 10 + 20 + 40 + 60 + 60 s by default, about three minutes of outage survived."""
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class KaggleSession:
    """A ready client and the credentials it uses (for messages and redaction)."""

    api: KaggleApi
    credentials: KaggleCredentials


def endpoint() -> str:
    """Where the client sends its calls (``KAGGLE_API_ENVIRONMENT`` picks the server)."""
    return "http://localhost" if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else "https://api.kaggle.com"


def _import_client() -> type[KaggleApi]:
    """Import the client with its import-time login banner swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            from kaggle.api.kaggle_api_extended import KaggleApi
        except ModuleNotFoundError as error:
            raise CornkitError(f"the official Kaggle client is not installed ({error.name} missing): run `pip install kaggle six`.") from None
    return KaggleApi


def connect(credentials: KaggleCredentials | None = None) -> KaggleSession:
    """A Kaggle client authenticated with ``credentials`` (found by :func:`find_credentials` if not given).

    The credentials go straight into the client's configuration rather than through
    ``KaggleApi.authenticate()``, which prints a banner and calls ``exit(1)`` when it finds
    nothing, and reads ``kaggle.json`` from a folder it fixed when it was first imported.
    """
    credentials = credentials or find_credentials()
    api = _import_client()()
    if credentials.token:
        api.config_values = {api.CONFIG_NAME_TOKEN: credentials.token}
        if credentials.username:
            api.config_values[api.CONFIG_NAME_USER] = credentials.username
    else:
        api.config_values = {api.CONFIG_NAME_USER: credentials.username, api.CONFIG_NAME_KEY: credentials.key}
    return KaggleSession(api=api, credentials=credentials)


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def seconds_from_env(name: str, default: float, example: str) -> float:
    """A positive number of seconds from the environment variable ``name`` (``default`` when unset); one line naming it if not."""
    text = os.environ.get(name, "")
    try:
        seconds = float(text) if text else default
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise CornkitError(f"{name}={text!r}: give a number of seconds above 0, e.g. {example}.")
    return seconds


def request_timeout() -> float:
    """Seconds a request may wait for the server's next bytes (``CORNKIT_KAGGLE_TIMEOUT``, default 60)."""
    return seconds_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, "120")


@contextlib.contextmanager
def _requests_time_out(seconds: float) -> Iterator[None]:
    """Give every request made meanwhile a timeout, unless its caller set one."""
    import requests

    send = requests.Session.send

    def send_with_timeout(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = seconds
        return send(self, request, **kwargs)

    requests.Session.send = send_with_timeout  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.send = send  # type: ignore[method-assign]


def retry_delays() -> list[float]:
    """The waits before each retry: ``CORNKIT_KAGGLE_RETRY_S`` (default 5 s), doubling, each at most a minute (or the first wait, if longer)."""
    first = seconds_from_env(RETRY_ENV, DEFAULT_RETRY_S, "5")
    return [min(max(RETRY_CAP_S, first), first * 2**n) for n in range(RETRIES)]


def _transient(error: Exception, timeout: float) -> str | None:
    """Why ``error`` may pass on another try (a busy or briefly unreachable server), or None for one that would fail again."""
    import requests

    if isinstance(error, requests.HTTPError):
        status = _status(error)
        return f"HTTP {status}" if status in TRANSIENT_STATUSES else None
    if isinstance(error, requests.ReadTimeout):
        return f"nothing for {timeout:g} s"
    if isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return type(error).__name__
    return None


def _explain(error: Exception, session: KaggleSession, what: str, timeout: float, forbidden: str, not_found: str) -> str:
    """The one line for a failed call: what Kaggle said, and what to do about it."""
    import requests

    if isinstance(error, requests.HTTPError):
        status = _status(error)
        detail = session.credentials.redact(str(error)).splitlines()[0] if str(error) else ""
        if status == 401:
            message = (
                f"Kaggle refused the credentials from {session.credentials.source} (401 Unauthorized): they are wrong or expired. "
                f"Create a new API token at {TOKEN_URL} and replace them."
            )
        elif status == 403:
            message = f"Kaggle said 403 Forbidden ({detail}). {forbidden or 'Check that your account may do this.'}"
        elif status == 404:
            message = f"Kaggle said 404 Not Found ({detail}). {not_found or 'Check the name you gave.'}"
        else:
            message = f"Kaggle answered HTTP {status} ({detail}). Try again later."
    elif isinstance(error, requests.ReadTimeout):
        message = f"the Kaggle API at {endpoint()} sent nothing for {timeout:g} s. Try again later; on a slow connection raise {TIMEOUT_ENV} (seconds)."
    elif isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        message = (
            f"cannot reach the Kaggle API at {endpoint()} ({type(error).__name__}). "
            "Check the network connection or proxy settings; offline, use the local commands only."
        )
    else:
        message = f"the Kaggle client said: {session.credentials.redact(str(error))}"
    return f"could not {what}: {message}"


def kaggle_call(
    session: KaggleSession,
    what: str,
    call: Callable[..., T],
    *args: Any,
    forbidden: str = "",
    not_found: str = "",
    retry: bool = False,
    **kwargs: Any,
) -> T:
    """Run one client call; raise a one-line :class:`CornkitError` if it fails.

    ``what`` names the action ("download kaggle-pog-series-s01e03"); ``forbidden`` and
    ``not_found`` say what a 403 or a 404 means for this call and what to do about it.
    ``retry=True`` tries a transient failure again (the module's docstring says how often).
    """
    import requests

    timeout = request_timeout()
    delays = retry_delays() if retry else []
    attempt = 0
    while True:
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter), _requests_time_out(timeout):
                result = call(*args, **kwargs)
        except (requests.HTTPError, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, ValueError) as error:
            reason = _transient(error, timeout)
            if reason is None or attempt == len(delays):
                raise CornkitError(_explain(error, session, what, timeout, forbidden, not_found)) from None
            log.warning("could not %s (%s): trying again in %g s (retry %d of %d)", what, reason, delays[attempt], attempt + 1, len(delays))
            time.sleep(delays[attempt])
            attempt += 1
            continue
        if chatter.getvalue().strip():
            log.info("%s", session.credentials.redact(chatter.getvalue().strip()))
        return result

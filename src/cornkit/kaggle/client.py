"""The official ``kaggle`` client, imported late and quietly, with its failures made readable.

``import kaggle`` authenticates at import time and prints a long login banner when no
credentials exist (and kaggle 2.2.4 needs ``six`` without declaring it), so cornkit imports it
only inside the commands that talk to Kaggle and hands it the credentials
:mod:`cornkit.kaggle_auth` found. :func:`kaggle_call` turns what the client raises (HTTP 401,
403, 404, a refused connection, its own ``ValueError`` checks) into one
:class:`~cornkit.errors.CornkitError` line that says what to do; the secret never appears in it.
The client sends its requests without a timeout, so a server that accepts a connection and
never answers would hang the command; inside :func:`kaggle_call` every request gets one
(``CORNKIT_KAGGLE_TIMEOUT`` seconds of silence, default 60).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
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


def kaggle_call(
    session: KaggleSession,
    what: str,
    call: Callable[..., T],
    *args: Any,
    forbidden: str = "",
    not_found: str = "",
    **kwargs: Any,
) -> T:
    """Run one client call; raise a one-line :class:`CornkitError` if it fails.

    ``what`` names the action ("download kaggle-pog-series-s01e03"); ``forbidden`` and
    ``not_found`` say what a 403 or a 404 means for this call and what to do about it.
    """
    import requests

    source = session.credentials.source
    timeout = request_timeout()
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), _requests_time_out(timeout):
            result = call(*args, **kwargs)
    except requests.HTTPError as error:
        status = _status(error)
        detail = session.credentials.redact(str(error)).splitlines()[0] if str(error) else ""
        if status == 401:
            message = (
                f"Kaggle refused the credentials from {source} (401 Unauthorized): they are wrong or expired. "
                f"Create a new API token at {TOKEN_URL} and replace them."
            )
        elif status == 403:
            message = f"Kaggle said 403 Forbidden ({detail}). {forbidden or 'Check that your account may do this.'}"
        elif status == 404:
            message = f"Kaggle said 404 Not Found ({detail}). {not_found or 'Check the name you gave.'}"
        else:
            message = f"Kaggle answered HTTP {status} ({detail}). Try again later."
        raise CornkitError(f"could not {what}: {message}") from None
    except requests.ReadTimeout:
        raise CornkitError(
            f"could not {what}: the Kaggle API at {endpoint()} sent nothing for {timeout:g} s. "
            f"Try again later; on a slow connection raise {TIMEOUT_ENV} (seconds)."
        ) from None
    except (requests.ConnectionError, requests.Timeout) as error:
        raise CornkitError(
            f"could not {what}: cannot reach the Kaggle API at {endpoint()} ({type(error).__name__}). "
            "Check the network connection or proxy settings; offline, use the local commands only."
        ) from None
    except ValueError as error:
        raise CornkitError(f"could not {what}: the Kaggle client said: {session.credentials.redact(str(error))}") from None
    if chatter.getvalue().strip():
        log.info("%s", session.credentials.redact(chatter.getvalue().strip()))
    return result

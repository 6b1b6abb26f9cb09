"""Find the user's Kaggle credentials where the official client looks, and inside a kernel.

The official ``kaggle`` client (2.2.x) looks, in this order, for an access token
(``KAGGLE_API_TOKEN`` holding the token or a path to it, then ``~/.kaggle/access_token``), then
a legacy API key (``kaggle.json`` in ``KAGGLE_CONFIG_DIR`` or ``~/.kaggle``, with
``KAGGLE_USERNAME``/``KAGGLE_KEY`` overriding it). cornkit resolves them itself, in that order,
so that a missing credential is one message saying where to put it rather than the client's
login banner and ``exit(1)``; inside a running Kaggle kernel it also reads the
``KAGGLE_USERNAME``/``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``) Kaggle secrets.

The secret itself never appears in a repr, a message, a log, a notebook or a Run: only where it
came from does. A credentials file that other users can read is warned about here, where every
command (``submit``, ``leaderboard``, ``kernels build`` for the username...) reads it, once per
file and process.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CornkitError
from ..redact import redact, register, secret_forms

log = logging.getLogger(__name__)

TOKEN_URL = "https://www.kaggle.com/settings/api"
KERNEL_ENV_VAR = "KAGGLE_KERNEL_RUN_TYPE"


@dataclass(frozen=True)
class KaggleCredentials:
    """A Kaggle identity: a legacy ``username``/``key`` pair, or an access ``token``.

    ``source`` says where it was found (for messages); the secrets are left out of ``repr``.
    ``warning`` is set when the file holding them is readable by other users.
    """

    source: str
    username: str | None = None
    key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    warning: str | None = None

    def __post_init__(self) -> None:
        register(self.secret_forms())  # from now on no output of this process shows them

    def secret_forms(self) -> set[str]:
        """The secret as it may appear in output: plain, and base64 as in an ``Authorization`` header."""
        return secret_forms(self.username, self.key, self.token)

    def redact(self, text: str) -> str:
        """``text`` with the secret blanked out in every form, for anything that may echo a request back."""
        return redact(text, self.secret_forms())


def in_kaggle_kernel(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a running Kaggle notebook (Kaggle sets ``KAGGLE_KERNEL_RUN_TYPE`` there)."""
    return KERNEL_ENV_VAR in (os.environ if environ is None else environ)


def config_dir(environ: Mapping[str, str], home: Path) -> Path:
    """The folder of ``kaggle.json``, chosen as the official client chooses it."""
    if environ.get("KAGGLE_CONFIG_DIR"):
        return Path(environ["KAGGLE_CONFIG_DIR"])
    legacy = home / ".kaggle"
    if legacy.exists():
        return legacy
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def _token_from(value: str) -> KaggleCredentials:
    """``KAGGLE_API_TOKEN`` holds either the token or the path of a file holding it (warned about if others can read it)."""
    try:
        if Path(value).is_file():
            return KaggleCredentials(source="KAGGLE_API_TOKEN", token=Path(value).read_text().strip(), warning=_permission_warning(Path(value)))
    except OSError:  # a token is no valid path (e.g. too long a name)
        pass
    return KaggleCredentials(source="KAGGLE_API_TOKEN", token=value.strip())


def _permission_warning(path: Path) -> str | None:
    mode = path.stat().st_mode
    if os.name != "nt" and mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} is readable by other users of this machine; run `chmod 600 {path}`."
    return None


def _read_kaggle_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CornkitError(
            f"{path} is not valid JSON ({type(error).__name__}); it must look like kaggle.json.example: "
            '{"username": "...", "key": "..."}. Download a fresh one from ' + TOKEN_URL + "."
        ) from None
    if not isinstance(data, dict):
        raise CornkitError(f'{path} must hold a JSON object with "username" and "key" (see kaggle.json.example).')
    return {k: str(v) for k, v in data.items() if k in ("username", "key") and v}


def _kernel_secrets() -> KaggleCredentials | None:
    """Credentials attached to the running kernel as Kaggle secrets, if any."""
    try:
        from kaggle_secrets import UserSecretsClient  # only exists inside Kaggle's image
    except ImportError:
        return None
    client = UserSecretsClient()

    def secret(name: str) -> str | None:
        try:
            return client.get_secret(name) or None
        except Exception:
            return None

    token = secret("KAGGLE_API_TOKEN")
    if token:
        return KaggleCredentials(source="the KAGGLE_API_TOKEN Kaggle secret", token=token)
    username, key = secret("KAGGLE_USERNAME"), secret("KAGGLE_KEY")
    if username and key:
        return KaggleCredentials(source="the KAGGLE_USERNAME/KAGGLE_KEY Kaggle secrets", username=username, key=key)
    return None


_warned: set[str] = set()


def find_credentials(environ: Mapping[str, str] | None = None, home: Path | None = None) -> KaggleCredentials:
    """The user's Kaggle credentials, or a :class:`CornkitError` that lists where to put them.

    The one reader of credentials: a file others can read is warned about on stderr (once).
    """
    found = _find(os.environ if environ is None else environ, Path.home() if home is None else home)
    if found.warning and found.warning not in _warned:
        _warned.add(found.warning)
        log.warning("%s", found.warning)
    return found


def _find(environ: Mapping[str, str], home: Path) -> KaggleCredentials:
    """The first credentials found, in the official client's order (inside a kernel, its secrets first)."""
    if in_kaggle_kernel(environ):
        from_secrets = _kernel_secrets()
        if from_secrets is not None:
            return from_secrets

    if environ.get("KAGGLE_API_TOKEN"):
        return _token_from(environ["KAGGLE_API_TOKEN"])
    for name in ("access_token", "access_token.txt"):
        path = home / ".kaggle" / name
        if path.is_file() and path.read_text().strip():
            return KaggleCredentials(source=str(path), token=path.read_text().strip(), warning=_permission_warning(path))

    path = config_dir(environ, home) / "kaggle.json"
    from_file = _read_kaggle_json(path) if path.is_file() else {}
    username = environ.get("KAGGLE_USERNAME") or from_file.get("username")
    key = environ.get("KAGGLE_KEY") or from_file.get("key")
    if username and key:
        from_env = "KAGGLE_USERNAME" in environ and "KAGGLE_KEY" in environ
        source = "KAGGLE_USERNAME/KAGGLE_KEY" if from_env else str(path)
        warning = _permission_warning(path) if path.is_file() and not from_env else None
        return KaggleCredentials(source=source, username=username, key=key, warning=warning)

    where = f"{path} has no " + ("key" if username else "username and key") if path.is_file() else f"no {path}"
    raise CornkitError(
        f"no Kaggle credentials found ({where}, no KAGGLE_USERNAME/KAGGLE_KEY or KAGGLE_API_TOKEN). "
        f"Create an API token at {TOKEN_URL}, save the downloaded kaggle.json as {path} (chmod 600; "
        "see kaggle.json.example), or set KAGGLE_USERNAME and KAGGLE_KEY; inside a Kaggle kernel, "
        "attach them as secrets."
    )

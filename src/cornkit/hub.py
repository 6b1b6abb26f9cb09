"""Fail fast, and say what to do, when pretrained weights would come from an unreachable hub.

Real use downloads open_clip and timm weights from the Hugging Face hub. Offline (a Kaggle
kernel with internet off, CI, this kit's tests) a download either raises at once
(``HF_HUB_OFFLINE=1``) or waits for network time-outs; cornkit checks first and turns both
into one message that says how to use a local file instead.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from huggingface_hub import is_offline_mode

from .errors import CornkitError

PROBE_TIMEOUT_S = 3.0


def hub_is_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if the hub's host accepts a TCP connection within ``timeout`` seconds."""
    if is_offline_mode():
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def offline_error(what: str, local_hint: str, cause: BaseException | None = None) -> CornkitError:
    """The message for weights that could not be fetched from the hub."""
    reason = "HF_HUB_OFFLINE is set" if is_offline_mode() else "the Hugging Face hub cannot be reached"
    detail = f" ({cause})" if cause else ""
    return CornkitError(f"cannot fetch {what}: {reason}{detail}. {local_hint}")


def require_hub(what: str, local_hint: str) -> None:
    """Raise at once when a download is about to be tried with no way to reach the hub.

    With ``HF_HUB_OFFLINE=1`` the hub library itself answers from its cache or fails at once,
    so only a live-but-unreachable network needs this probe.
    """
    if not is_offline_mode() and not hub_is_reachable():
        raise offline_error(what, local_hint)

"""Keep the Kaggle secret out of everything cornkit prints, in every form it travels in.

The key is sent as an HTTP ``Authorization: Basic base64(user:key)`` header and a token as
``Bearer <token>``; the client's verbose mode (``VERBOSE=1``) prints request headers, and a
server may echo a request back in an error body. So the plain secret is not enough to look
for: :func:`secret_forms` lists every spelling (plain, base64 of ``user:key`` and of the key
alone, standard and URL-safe, padded or not). Credentials register their forms when found;
:func:`redact` blanks them in any text, and :func:`redacted_output` wraps ``sys.stdout`` and
``sys.stderr`` for the length of a command (the one place output leaves the kit), so logging
handlers and the client's own prints made meanwhile are covered too.
"""

from __future__ import annotations

import base64
import contextlib
import io
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

MASK = "***"
_registered: set[str] = set()


def secret_forms(username: str | None, key: str | None, token: str | None) -> set[str]:
    """Every spelling of a key or token that could reach a log: plain, and base64 as an HTTP header carries it."""
    forms: set[str] = set()
    encoded = [f"{username}:{key}" if username and key else None, key, token, f"{username}:{token}" if username and token else None]
    for secret in (key, token):
        if secret:
            forms.add(secret)
    for text in encoded:
        if not text:
            continue
        for codec in (base64.b64encode, base64.urlsafe_b64encode):
            spelled = codec(text.encode()).decode()
            forms |= {spelled, spelled.rstrip("=")}
    return {form for form in forms if len(form) >= 4}  # a one-letter "key" would blank every other word


def register(forms: Iterable[str]) -> None:
    """Add secret spellings that :func:`redact` blanks from now on in this process."""
    _registered.update(forms)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered (and ``extra``) secret spelling replaced by ``***``, longest first."""
    for form in sorted({*_registered, *extra}, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that blanks secrets in everything written through it, then passes it on."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through :class:`RedactingStream` while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = saved

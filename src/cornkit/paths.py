"""Paths made from user data, checked against the filesystem's limits before anything opens them.

A file name longer than the filesystem allows (255 bytes on most Linux filesystems) or a path
of thousands of characters makes every ``open``, ``stat`` and ``exists`` fail with
``OSError: [Errno 36] File name too long``, far from where the name came from. Each path the
kit takes from the user (a flag, a CSV row, a run id) is checked here first, so the error is
one line naming that flag or row.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CornkitError

NAME_MAX = 255
PATH_MAX = 4096
"""Linux's limits, used where the filesystem does not say (``os.pathconf``)."""


def _limit(path: Path, name: str, default: int) -> int:
    folder = path if path.is_absolute() else Path.cwd() / path
    while True:
        try:
            return os.pathconf(folder, name)
        except OSError:
            if folder.parent == folder:
                return default
            folder = folder.parent


def too_long(path: Path) -> str | None:
    """What makes ``path`` too long for its filesystem (a part of it, or the whole), or None."""
    name_max = _limit(path.parent, "PC_NAME_MAX", NAME_MAX)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return f"the name {part[:40]!r}... is {size} bytes long, more than the {name_max} this filesystem allows"
    size = len(os.fsencode(str(path)))
    path_max = _limit(path.parent, "PC_PATH_MAX", PATH_MAX)
    if size >= path_max:
        return f"the path is {size} bytes long, more than the {path_max - 1} this system allows"
    return None


def check_length(path: Path, where: str) -> Path:
    """``path``, or a one-line :class:`CornkitError` starting with ``where`` (the flag or the row) if it is too long."""
    reason = too_long(path)
    if reason:
        raise CornkitError(f"{where}: {reason}; use a shorter name.")
    return path

"""The one exception type a user is meant to read.

Every check that can fail because of the user's data, flags or environment raises
:class:`CornkitError` with a message that names the file, row, column or flag and says what
to do. The CLI prints that message alone (no traceback) and exits non-zero; anything else
is a bug in cornkit and keeps its traceback.
"""

from __future__ import annotations


class CornkitError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole explanation."""


class ReportedError(CornkitError):
    """A CornkitError another process has already printed (rank 0 of a launch): the CLI exits 2 without repeating it."""


def user_message(error: CornkitError) -> str:
    """The explanation alone, also when a DataLoader worker raised it.

    PyTorch re-raises a worker's exception in the main process with the worker's whole
    traceback as its message ("Caught CornkitError in DataLoader worker process 0. Original
    Traceback ..."); its last line holds the original message.
    """
    text = str(error)
    if "\nOriginal Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    return last.split(f"{CornkitError.__name__}: ", 1)[-1]

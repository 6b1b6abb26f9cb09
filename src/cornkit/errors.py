"""The one exception type a user is meant to read.

Every check that can fail because of the user's data, flags or environment raises
:class:`CornkitError` with a message that names the file, row, column or flag and says what
to do. The CLI prints that message alone (no traceback) and exits non-zero; anything else
is a bug in cornkit and keeps its traceback.
"""

from __future__ import annotations


class CornkitError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole explanation."""

"""Progress that reads well where it goes: a bar on a terminal (or in Jupyter), one line per finished step elsewhere.

Piped output (a kernel's log, CI, a notebook cell running the CLI) would otherwise collect
carriage-return fragments of bars; there each step says once, when it ends, what it did and
how fast. Several ranks of a launch each get their own bar line (``position``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def _in_a_notebook() -> bool:
    """A Jupyter kernel runs this code (not merely: ipykernel was imported, as a notebook runner in the same process does)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _interactive() -> bool:
    return sys.stderr.isatty() or _in_a_notebook()


@contextlib.contextmanager
def progress(desc: str, total: int, unit: str, *, position: int = 0) -> Iterator[Callable[[int], object]]:
    """Yield ``advance(n)``; show a bar of ``total`` units, or print one line when the step completes."""
    if _interactive():
        with tqdm(total=total, desc=desc, unit=unit, position=position, dynamic_ncols=True) as bar:
            yield bar.update
        return
    started = time.perf_counter()
    yield lambda n: None
    seconds = time.perf_counter() - started
    log.info("%s: %d %s in %.1f s (%.0f %s/s)", desc, total, unit, seconds, total / max(seconds, 1e-9), unit)

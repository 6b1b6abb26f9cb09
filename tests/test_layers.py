"""The library stands without its command line: importing the API loads no module of ``cornkit.cli``.

``lint-imports`` (in ``make lint``) checks the layers statically; this checks what a notebook
actually loads, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LIBRARY = ("cornkit.heads.blend", "cornkit.heads.gda", "cornkit.heads.registry", "cornkit.train.finetune", "cornkit.runs.ensemble", "cornkit.kaggle.kernels")


@pytest.mark.slow
def test_importing_the_library_loads_no_command_line_module() -> None:
    code = (
        f"import importlib, sys\nfor name in {LIBRARY!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'cornkit.cli' or m.startswith('cornkit.cli.'))\nprint(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]"

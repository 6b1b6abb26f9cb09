"""Property: names longer than the operating system allows end in one line naming the flag, row or run id.

Hypothesis draws a file name (up to twice the 255 bytes Linux allows, with multi-byte
characters, so characters and bytes differ) or a path of thousands of characters, and puts it
where the user's data puts names: a folder flag, an image path in ``train.csv``, a run id.
The invariant: success, or exit code 2 (a :class:`CornkitError` through the API) with one line
that names where the name came from; never ``OSError: [Errno 36] File name too long``.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cornkit.cli import main
from cornkit.data.dataset import load_dataset
from cornkit.errors import CornkitError

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], database=None)


@st.composite
def long_names(draw: st.DrawFn) -> str:
    """One file name near the 255-byte limit (either side), or a path of thousands of characters."""
    if draw(st.booleans()):
        return "r" + draw(st.text(alphabet="aé-", min_size=120, max_size=510))  # not "-...": argparse would take it for a flag
    return "/".join(["d" * 200] * draw(st.integers(10, 30)))


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _one_line_naming(code: int, err: str, where: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "Errno" not in err, err
    assert where in lines[0], lines[0]


@given(name=long_names(), flag=st.sampled_from(["runs --work", "leaderboard --offline --submissions", "leaderboard --offline --work"]))
@SETTINGS
def test_a_folder_flag_too_long_is_one_line_naming_the_flag(name: str, flag: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        *command, option = flag.split()
        extra = ["--submissions", str(Path(tmp) / "subs")] if option == "--work" and "leaderboard" in command else []
        code, err = _cli([*command, *extra, option, str(Path(tmp) / name)])
        if code == 0:
            event("accepted")
            return
        event("refused")
        _one_line_naming(code, err, option)


@given(name=long_names())
@SETTINGS
def test_an_image_path_too_long_is_one_line_naming_the_row(corn_copy: Path, name: str) -> None:
    frame = pd.read_csv(corn_copy / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "image"] = f"train/{name}.png"
    frame.to_csv(corn_copy / "train.csv", index=False)
    with pytest.raises(CornkitError) as error:
        load_dataset(corn_copy)
    assert "\n" not in str(error.value) and "row 4, column 'image'" in str(error.value), str(error.value)


@given(name=long_names())
@settings(SETTINGS, max_examples=5)  # each loads the competition folder
def test_a_run_id_too_long_is_one_line_naming_the_run(corn_dir: Path, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code, err = _cli(["score", name, "--data", str(corn_dir), "--work", tmp])
        _one_line_naming(code, err, "Run")  # too long, or (short enough) no such Run

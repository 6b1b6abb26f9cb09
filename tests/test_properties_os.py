"""Property: names longer than the operating system allows end in one line naming the flag, row or run id.

Hypothesis draws a file name (up to twice the 255 bytes Linux allows, with multi-byte
characters, so characters and bytes differ) or a path of thousands of characters, and puts it
where the user's data puts names: a folder flag, an image path in ``train.csv``, a run id.
The invariant: success, or exit code 2 (a :class:`CornkitError` through the API) with one line
that names where the name came from; never ``OSError: [Errno 36] File name too long``.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
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


def _expected_refusal(path: str) -> str | None:
    """The oracle: why the OS cannot take ``path`` (from its own bytes and the OS's limits), or None where it can.

    Computed from the input alone: ``NAME_MAX`` bytes per component and ``PATH_MAX`` bytes in all
    (terminating NUL included, so the longest usable path is one byte shorter), both as the
    filesystem holding the temporary folder reports them.
    """
    name_max = os.pathconf(tempfile.gettempdir(), "PC_NAME_MAX")
    path_max = os.pathconf(tempfile.gettempdir(), "PC_PATH_MAX")
    for part in path.split("/"):
        if len(part.encode()) > name_max:
            return f"is {len(part.encode())} bytes long, more than the {name_max} this filesystem allows; use a shorter name."
    if len(path.encode()) >= path_max:
        return f"the path is {len(path.encode())} bytes long, more than the {path_max - 1} this system allows; use a shorter name."
    return None


SHORT_AND_LONG = [  # both sides of NAME_MAX, in bytes (é is two), and of PATH_MAX: each branch runs whatever Hypothesis draws
    "r" + "a" * 254,
    "r" + "a" * 255,
    "r" + "é" * 127,
    "r" + "é" * 127 + "a",
    "/".join(["d" * 200] * 10),
    "/".join(["d" * 200] * 30),
]


def _one_line_naming(code: int, err: str, where: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "Errno" not in err, err
    assert where in lines[0], lines[0]


FLAGS = ["runs --work", "leaderboard --offline --submissions", "leaderboard --offline --work"]


def test_a_folder_flag_too_long_is_one_line_naming_the_flag() -> None:
    """A folder flag the OS can take is accepted (exit 0, nothing on stderr); one it cannot is refused in one line."""
    seen: collections.Counter[str] = collections.Counter()

    @given(name=long_names(), flag=st.sampled_from(FLAGS))
    @example(name=SHORT_AND_LONG[0], flag=FLAGS[0])
    @example(name=SHORT_AND_LONG[1], flag=FLAGS[0])
    @example(name=SHORT_AND_LONG[2], flag=FLAGS[1])
    @example(name=SHORT_AND_LONG[3], flag=FLAGS[1])
    @example(name=SHORT_AND_LONG[4], flag=FLAGS[2])
    @example(name=SHORT_AND_LONG[5], flag=FLAGS[2])
    @SETTINGS
    def check(name: str, flag: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            *command, option = flag.split()
            extra = ["--submissions", str(Path(tmp) / "subs")] if option == "--work" and "leaderboard" in command else []
            path = str(Path(tmp) / name)
            reason = _expected_refusal(path)
            code, err = _cli([*command, *extra, option, path])
            if reason is None:
                event("accepted")
                seen["accepted"] += 1
                assert (code, err) == (0, ""), err
                return
            event("refused")
            seen["refused"] += 1
            _one_line_naming(code, err, option)
            line = err.strip()
            assert line.startswith(f"cornkit {command[0]}: error: {option} {path[:60]}...: "), line
            assert line.endswith(reason), (line, reason)

    check()
    assert seen["accepted"] >= 3 and seen["refused"] >= 3, seen  # both branches ran, the examples' at least


@given(name=long_names())
@SETTINGS
def test_an_image_path_too_long_is_one_line_naming_the_row(corn_copy: Path, name: str) -> None:
    frame = pd.read_csv(corn_copy / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "image"] = f"train/{name}.png"
    frame.to_csv(corn_copy / "train.csv", index=False)
    with pytest.raises(CornkitError) as error:
        load_dataset(corn_copy)
    assert "\n" not in str(error.value) and "row 4, column 'image'" in str(error.value), str(error.value)


def test_a_run_id_too_long_is_one_line_naming_the_run(corn_dir: Path) -> None:
    """A run id the OS can take is looked up ("no Run ..."); one it cannot is refused in one line naming the Run."""
    seen: collections.Counter[str] = collections.Counter()

    @given(name=long_names())
    @example(name=SHORT_AND_LONG[0])
    @example(name=SHORT_AND_LONG[3])
    @example(name=SHORT_AND_LONG[4])
    @example(name=SHORT_AND_LONG[5])
    @settings(SETTINGS, max_examples=5)  # each loads the competition folder
    def check(name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            reason = _expected_refusal(str(Path(tmp) / "runs" / name))
            code, err = _cli(["score", name, "--data", str(corn_dir), "--work", tmp])
            _one_line_naming(code, err, "Run")
            line = err.strip()
            if reason is None:
                event("looked up")
                seen["looked up"] += 1
                assert line == f"cornkit score: error: no Run {name!r}: give a run id or a Run folder. No Runs in {Path(tmp) / 'runs'} yet.", line
                return
            event("refused")
            seen["refused"] += 1
            assert line.startswith(f"cornkit score: error: Run {name[:40]!r}: "), line
            assert line.endswith(reason), (line, reason)

    check()
    assert seen["looked up"] >= 2 and seen["refused"] >= 2, seen

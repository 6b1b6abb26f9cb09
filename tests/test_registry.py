"""The head registry: built-ins found in the package, plugins through the ``cornkit.heads`` entry points.

The README's "Adding a head" example is registered here exactly as a third-party package
would register it (a ``dist-info`` folder with ``entry_points.txt`` on ``sys.path``; nothing
is installed), and must then be a command, a kernel choice, a Run and a submission.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cornkit.cli import build_parser, main
from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split
from cornkit.demo import head_demo_argv, head_demo_params
from cornkit.errors import CornkitError
from cornkit.heads import FeatureHeadParams, Head, all_heads, get_head, run_head
from cornkit.runs.run import load_run

README = Path(__file__).resolve().parent.parent / "README.md"
CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]


def readme_example_head() -> str:
    """The code block that follows ``<!-- example-head -->`` in the README."""
    text = README.read_text()
    match = re.search(r"<!-- example-head -->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its example head"
    return match.group(1)


def _choices(argv: list[str], dest: str) -> list[str]:
    parser = build_parser()
    for name in argv:
        parser = next(a for a in parser._actions if a.dest in ("command", "kernels_command")).choices[name]
    return list(next(a for a in parser._actions if a.dest == dest).choices)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The README's head as a module plus a dist-info declaring it in the ``cornkit.heads`` group."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "cornkit_prior_head.py").write_text(readme_example_head())
    dist = site / "cornkit_prior_head-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cornkit-prior-head\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[cornkit.heads]\nprior = cornkit_prior_head:HEAD\n")
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop("cornkit_prior_head", None)
    all_heads.cache_clear()
    yield site
    sys.modules.pop("cornkit_prior_head", None)
    all_heads.cache_clear()


def test_builtin_heads_are_found_in_rank_order() -> None:
    names = list(all_heads())
    assert names[:2] == ["zeroshot", "probe"] and "convnext" in names
    assert _choices([], "command")[: len(["demo"])] == ["demo"]
    assert set(names) <= set(_choices([], "command"))


def test_the_readme_example_head_becomes_a_command_a_kernel_a_run_and_a_submission(plugin, corn_dir, tmp_path, capsys) -> None:
    assert "prior" in all_heads() and all_heads()["prior"].fit is not None
    assert "prior" in _choices([], "command")
    assert "prior" in _choices(["kernels", "build"], "approach")

    work, subs = tmp_path / "work", tmp_path / "subs"
    common = ["--data", str(corn_dir), "--work", str(work)]
    assert main(["split", *common]) == 0
    assert main(["prior", *common, *CLIP, "--smoothing", "0"]) == 0
    run = load_run(capsys.readouterr().out.strip().splitlines()[-1], work)
    train_labels = pd.read_csv(work / "split.csv").query("fold == -1")["label"]
    expected = train_labels.value_counts(normalize=True).reindex(list(run.classes)).to_numpy()
    np.testing.assert_allclose(run.val_probs, np.tile(expected, (len(run.val), 1)), atol=1e-8)
    assert run.config["smoothing"] == 0.0 and run.config["approach"] == "prior"
    assert main(["submit", run.run_id, *common, "--submissions", str(subs)]) == 0
    submission = pd.read_csv(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(submission["label"]) == {train_labels.value_counts().idxmax()}
    assert main(["kernels", "build", "prior", "--user", "cornkit-tester", "--kernels", str(tmp_path / "kernels")]) == 0
    capsys.readouterr()
    assert main(["sweep", "prior", *common, *CLIP[:4], "--trials", "2"]) == 0  # its declared space: smoothing=0..10
    best = load_run(capsys.readouterr().out.strip().splitlines()[-1], work)
    assert best.config["approach"] == "prior" and 0.0 <= best.config["smoothing"] <= 10.0


def test_a_plugin_that_reuses_a_builtin_name_is_refused(plugin) -> None:
    (plugin / "cornkit_prior_head-0.1.dist-info" / "entry_points.txt").write_text("[cornkit.heads]\nprobe = cornkit_prior_head:HEAD\n")
    (plugin / "cornkit_prior_head.py").write_text(readme_example_head().replace('name="prior"', 'name="probe"'))
    sys.modules.pop("cornkit_prior_head", None)
    all_heads.cache_clear()
    with pytest.raises(CornkitError, match="two heads are named 'probe'"):
        all_heads()


def test_a_broken_plugin_is_skipped_with_a_warning(plugin, capsys) -> None:
    (plugin / "cornkit_prior_head.py").write_text("raise ImportError('no such dependency')\n")
    sys.modules.pop("cornkit_prior_head", None)
    all_heads.cache_clear()
    assert "prior" not in all_heads() and "probe" in all_heads()
    assert "head 'prior' (cornkit_prior_head:HEAD) could not be loaded: no such dependency" in capsys.readouterr().err


def test_a_head_gives_exactly_one_way_to_make_its_run() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        Head(name="nothing", help="makes nothing", params=FeatureHeadParams)
    with pytest.raises(CornkitError, match="no head called 'nope'"):
        get_head("nope")


@pytest.mark.parametrize("name", list(all_heads()))
def test_run_head_and_the_command_line_build_the_same_parameters(name, corn_dir, tmp_path, monkeypatch) -> None:
    """From the same declarations: `cornkit NAME FLAGS` and `run_head(NAME, **params)` hand the head equal parameters."""
    head = get_head(name)
    seen: list[object] = []
    monkeypatch.setattr(Head, "run", lambda self, ctx: seen.append(ctx.params) or _stop())
    work = tmp_path / "work"
    assert main(["split", "--data", str(corn_dir), "--work", str(work)]) == 0
    values = head_demo_params(head)
    with pytest.raises(_Stopped):
        main(head_demo_argv(head, corn_dir, work))
    dataset = load_dataset(corn_dir)
    with pytest.raises(_Stopped):
        run_head(name, dataset, load_split(work, dataset), work, **values)
    assert len(seen) == 2 and seen[0] == seen[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name, head in all_heads().items() if head.inputs == "features"])
def test_run_head_and_the_command_line_write_the_same_run(name, clip_work, capsys) -> None:
    dataset, split, work, _ = clip_work
    head = get_head(name)
    assert main(head_demo_argv(head, dataset.root, work)) == 0
    from_cli = load_run(capsys.readouterr().out.strip().splitlines()[-1], work)
    from_python = run_head(name, dataset, split, work, **head_demo_params(head))
    assert from_python.run_id == from_cli.run_id and from_python.config == from_cli.config


class _Stopped(Exception):
    """Raised instead of making a Run: the parameters are what these tests compare."""


def _stop() -> None:
    raise _Stopped

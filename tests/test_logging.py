"""The library logs under ``cornkit``; only the command line shows its lines, and a Python user can silence or redirect them."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import cornkit
from cornkit.data.dataset import load_dataset
from cornkit.data.split import make_split
from cornkit.heads.registry import run_head

PACKAGE = Path(cornkit.__file__).parent
CLIP = {"model": "cornkit-tiny-clip", "pretrained": "none", "workers": 0}


def _fresh_probe(corn_dir: Path, work: Path) -> None:
    """A probe from nothing: features extracted (a progress line), random weights (a warning), too many folds (a note)."""
    dataset = load_dataset(corn_dir)
    run_head("probe", dataset, make_split(dataset, work), work, cv_folds=50, **CLIP)


def test_logging_disable_silences_run_head_entirely(corn_dir, tmp_path, capfd) -> None:
    logging.disable(logging.CRITICAL)
    try:
        _fresh_probe(corn_dir, tmp_path / "work")
    finally:
        logging.disable(logging.NOTSET)
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "after logging.disable the kit writes nothing to stdout or stderr"


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_same_lines_reach_a_users_own_handler(corn_dir, tmp_path) -> None:
    kept, logger = _Keep(), logging.getLogger("cornkit")
    logger.addHandler(kept)
    try:
        _fresh_probe(corn_dir, tmp_path / "work")
    finally:
        logger.removeHandler(kept)
    by_logger = {(record.name, record.levelno) for record in kept.records}
    assert ("cornkit.clip.model", logging.WARNING) in by_logger, "the random-weights warning is a warning of its module's logger"
    assert ("cornkit.heads.probe", logging.INFO) in by_logger, "the cv_folds note"
    assert any(record.name == "cornkit.progress" and "img/s" in record.getMessage() for record in kept.records), "the extraction's step line"


@pytest.mark.parametrize("module", sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts))
def test_no_library_module_prints(module: str) -> None:
    """print() outside cli/ would bypass logging: a notebook could not silence it, nor a kernel's log keep it in order."""
    tree = ast.parse((PACKAGE / module).read_text())
    prints = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"]
    assert not prints, f"{module} calls print() at line(s) {prints}; log through logging.getLogger(__name__) instead"

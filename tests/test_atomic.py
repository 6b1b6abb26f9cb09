"""Nothing half-written: an interrupted write leaves the old file or folder as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cornkit.atomic import atomic_dir, atomic_path, write_text
from cornkit.locks import LOCK_DIR


def test_interrupted_folder_write_keeps_the_previous_run_folder(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "r1"
    with atomic_dir(target) as folder:
        (folder / "val_probs.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(target) as folder:
        (folder / "val_probs.csv").write_text("new, half")
        raise KeyboardInterrupt
    assert (target / "val_probs.csv").read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir() if p.name != LOCK_DIR) == ["r1"]


def test_no_overwrite_refuses_an_existing_file_and_cleans_up(tmp_path: Path) -> None:
    target = write_text(tmp_path / "a.csv", "first")
    with pytest.raises(FileExistsError), atomic_path(target, overwrite=False) as tmp:
        tmp.write_text("second")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_written_files_and_folders_get_ordinary_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "run") as folder:
            write_text(folder / "a.csv", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "run" / "a.csv").stat().st_mode & 0o777 == 0o644

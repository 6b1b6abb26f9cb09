"""Atomic writes are durable too: each file is fsynced before it is renamed into place, and its folder after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cornkit.atomic import atomic_dir, write_text


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (with the path its descriptor names) and every rename, in order."""
    seen: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(("replace", f"{os.fspath(src)} -> {os.fspath(dst)}"))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return seen


def test_a_file_is_fsynced_before_its_rename_and_its_folder_after(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    target = write_text(tmp_path / "metrics.json", "{}\n")
    (rename,) = [i for i, (kind, _) in enumerate(events) if kind == "replace"]
    temporary = events[rename][1].split(" -> ")[0]
    assert events[rename - 1] == ("fsync", temporary)
    assert events[rename + 1 :] == [("fsync", str(tmp_path))]
    assert target.read_text() == "{}\n"


def test_a_folder_has_every_file_and_itself_fsynced_before_the_swap_and_its_parent_after(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    with atomic_dir(tmp_path / "run") as folder:
        (folder / "sub").mkdir()
        (folder / "a.csv").write_text("x\n")
        (folder / "sub" / "b.csv").write_text("y\n")
    swap = next(i for i, (kind, what) in enumerate(events) if kind == "replace" and what.endswith(f"-> {tmp_path / 'run'}"))
    temporary = events[swap][1].split(" -> ")[0]
    synced_before = {what for kind, what in events[:swap] if kind == "fsync"}
    assert {f"{temporary}/a.csv", f"{temporary}/sub/b.csv", f"{temporary}/sub", temporary} <= synced_before
    assert events[swap + 1 :] == [("fsync", str(tmp_path))]

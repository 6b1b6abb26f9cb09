"""``cornkit-kernel.json``: what a built kernel folder is and what became of it on Kaggle.

``kernel-metadata.json`` is the official client's file and holds only what Kaggle reads; this
one, beside it, holds what cornkit needs later and Kaggle does not: which head (or ``ensemble``
/ ``stack`` of which kernels) the folder runs, with which flags, the versions pushed, the last
state seen, and how long a run took from push to COMPLETE (the estimate behind the weekly GPU
quota check). Rebuilding a folder keeps its pushes and run times; the client never sends this
file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import write_json
from ..errors import CornkitError

RECORD_FILE = "cornkit-kernel.json"


def now_utc() -> str:
    """The time now, as the ISO text the record stores."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class KernelRecord:
    """One kernel folder: ``kind`` is ``head``, ``ensemble`` or ``stack``; ``head`` the head it runs (or the kind)."""

    name: str
    kind: str
    head: str
    flags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    version: int | None = None
    pushed_at: str | None = None
    state: str | None = None
    run_seconds: float | None = None

    def pushed(self, version: int | None) -> KernelRecord:
        """After a push: the new version, its time, no state yet (a new run starts)."""
        return replace(self, version=version, pushed_at=now_utc(), state=None)

    def seen(self, state: str) -> KernelRecord:
        """After a status call: the state, and the run time the first time COMPLETE is seen after a push."""
        run_seconds = self.run_seconds
        if state == "COMPLETE" and self.state != "COMPLETE" and self.pushed_at:
            run_seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(self.pushed_at)).total_seconds()
        return replace(self, state=state, run_seconds=run_seconds)


def read_record(folder: Path) -> KernelRecord:
    """The folder's record; a folder built before cornkit wrote one reads as a head kernel named after its folder."""
    path = folder / RECORD_FILE
    if not path.is_file():
        return KernelRecord(name=folder.name, kind="head", head=folder.name)
    try:
        data = json.loads(path.read_text())
        return KernelRecord(**{**data, "flags": tuple(data.get("flags", ())), "sources": tuple(data.get("sources", ()))})
    except (json.JSONDecodeError, TypeError) as error:
        raise CornkitError(f"{path} is damaged ({error}); rebuild the kernel with `cornkit kernels build ... --name {folder.name}`.") from None


def write_record(folder: Path, record: KernelRecord) -> None:
    """Write the record atomically."""
    data = asdict(record)
    write_json(folder / RECORD_FILE, {**data, "flags": list(record.flags), "sources": list(record.sources)})


def carried_over(old_folder: Path, record: KernelRecord) -> KernelRecord:
    """``record`` for a rebuilt folder, keeping the pushes and run time of the folder it replaces."""
    if not (old_folder / RECORD_FILE).is_file():
        return record
    old = read_record(old_folder)
    return replace(record, version=old.version, pushed_at=old.pushed_at, state=old.state, run_seconds=old.run_seconds)

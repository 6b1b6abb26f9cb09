"""A trial whose parameters were already trained on this split reuses that Run instead of training it again.

A Run's id is the hash of its config, which a head completes only as it trains (the feature
cache's key, the prompt set it loaded). So the sweep keys what it made by what it knows before
training: the head, its recorded parameters and the split. After a trial's Run is saved, one
small JSON file, ``WORK/sweeps/trials/<key>.json``, records its run id and objective. A later
trial with the same key (the sampler repeating itself, a retried trial whose process died
after saving, another study on the same split) reads it back, provided the Run is still there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from .. import params as declared
from ..hashing import config_hash
from .storage import sweeps_dir

TRIALS_DIR = "trials"


@dataclass(frozen=True)
class TrialRecord:
    run_id: str
    objective: float


def trial_key(head: str, params: Any, split_id: str) -> str:
    return config_hash({"head": head, "params": declared.as_config(params), "split_id": split_id})


def _record_path(work: Path, key: str) -> Path:
    return sweeps_dir(work) / TRIALS_DIR / f"{key}.json"


def find_record(work: Path, key: str) -> TrialRecord | None:
    """The recorded trial of ``key`` whose Run still exists, or None."""
    from ..runs.run import RUNS_DIR

    path = _record_path(work, key)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if not (work / RUNS_DIR / record["run_id"]).is_dir():
        return None
    return TrialRecord(record["run_id"], float(record["objective"]))


def save_record(work: Path, key: str, record: TrialRecord) -> None:
    path = _record_path(work, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, {"run_id": record.run_id, "objective": record.objective})


def trial_of_run(work: str | Path, run_id: str) -> dict[str, Any]:
    """The recorded trial that made Run ``run_id`` (``run_id``, ``objective``): what a trial's kernel reports back to its sweep."""
    from ..errors import CornkitError

    for path in sorted((sweeps_dir(work) / TRIALS_DIR).glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("run_id") == run_id:
            return {"run_id": run_id, "objective": float(record["objective"])}
    raise CornkitError(f"no sweep trial under {sweeps_dir(work) / TRIALS_DIR} made Run {run_id}: run it with `cornkit sweep HEAD --trials 1 --space none`.")

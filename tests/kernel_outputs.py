"""What a kernel leaves in its output, made here: the stand-in Kaggle API serves it as the kernel's (no notebook runs)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split
from cornkit.runs.run import make_run, save_run


def kernel_output(corn: Path, work: Path, variant: str, rng_seed: int, *, split_id: str | None = None, fingerprint: str | None = None) -> tuple[str, dict]:
    """What a probe kernel leaves in its output: ``cornkit-runs/<run-id>/`` (with a model file) and ``cornkit-run.json``."""
    dataset = load_dataset(corn, check_images=False)
    split = load_split(work, dataset)
    rows = split.validation_rows() if split_id is None else dataclasses.replace(split.validation_rows(), split_id=split_id)
    rng = np.random.default_rng(rng_seed)
    run = make_run(
        approach="probe",
        model="kernel-model",
        classes=dataset.classes,
        split=rows,
        val_probs=rng.dirichlet(np.ones(len(dataset.classes)), size=len(rows.ids)),
        test_ids=dataset.ids("test"),
        test_probs=rng.dirichlet(np.ones(len(dataset.classes)), size=len(dataset.test)),
        config={"variant": variant},
        seed=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_run(run, tmp, write_artifacts=lambda f: (f / "probe.joblib").write_bytes(b"a fitted model"))
        files = {f"cornkit-runs/{run.run_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}
    summary = {
        "run_id": run.run_id,
        **run.config,
        **run.metrics,
        "split": {**split.params, "data_fingerprint": fingerprint or dataset.fingerprint},
    }
    files["cornkit-run.json"] = json.dumps(summary).encode()
    return run.run_id, files

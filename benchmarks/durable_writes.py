"""What fsync costs the kit's atomic writes: a Run-sized write and an image-store-sized one, with and without it.

Run: ``python benchmarks/durable_writes.py [--repeats 5] [--store-mb 100]``. "Without" replaces
``os.fsync`` by a no-op in this process only (what the kit did before it synced). Prints the
median milliseconds of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cornkit.atomic import atomic_dir, atomic_path, write_csv, write_json


def run_sized(folder: Path) -> None:
    """Like runs/run.py saves a Run: two probability CSVs and two JSON files, swapped in as one folder."""
    rng = np.random.default_rng(0)
    frames = {name: pd.DataFrame(rng.dirichlet(np.ones(4), rows), columns=list("abcd")) for name, rows in (("val_probs", 1000), ("test_probs", 3500))}
    with atomic_dir(folder / "run") as run:
        for name, frame in frames.items():
            write_csv(run / f"{name}.csv", frame)
        write_json(run / "metrics.json", {"val_accuracy": 0.9})
        write_json(run / "config.json", {"approach": "probe", "cs": [1, 10, 100]})


def store_sized(folder: Path, megabytes: int) -> None:
    """An image store: one large .npy written into a temporary and renamed into place."""
    images = np.zeros((megabytes, 1024, 1024), dtype=np.uint8)
    with atomic_path(folder / "store.npy") as tmp, tmp.open("wb") as out:
        np.save(out, images)


def median_ms(write: Callable[[Path], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=".") as folder:
            start = time.perf_counter()
            write(Path(folder))
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--store-mb", type=int, default=100)
    args = parser.parse_args()
    fsync = os.fsync
    for label, write in (("Run (2 CSV + 2 JSON)", run_sized), (f"image store ({args.store_mb} MB .npy)", lambda f: store_sized(f, args.store_mb))):
        os.fsync = fsync
        synced = median_ms(write, args.repeats)
        os.fsync = lambda fd: None
        unsynced = median_ms(write, args.repeats)
        os.fsync = fsync
        print(f"{label}: {synced:.1f} ms with fsync, {unsynced:.1f} ms without (median of {args.repeats})")


if __name__ == "__main__":
    main()

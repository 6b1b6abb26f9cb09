"""How cornkit's split work scales with processes on this machine: images/s with 1, 2, ... processes and the speed-up.

Not part of the test suite. Each workload is timed as a user runs it, ``python -m cornkit ...
--processes N`` in a fresh process, twice: on a handful of images (what starting N processes
costs: imports, model load, rendezvous) and on the full set; the difference is the time the
work itself took, so the table shows both the throughput of the work and what a launch adds.
Workloads are a list (:data:`WORKLOADS`): CLIP feature extraction now; a fine-tune epoch can be
added as one more entry once ``cornkit finetune`` takes ``--processes``.

    .venv/bin/python benchmarks/scaling.py --model cornkit-tiny-clip --images 480
    .venv/bin/python benchmarks/scaling.py --model ViT-B-32 --images 240 --processes 1 2

On a GPU machine each process takes one GPU (``--processes`` up to the GPU count). Paste the
printed table into the README with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
STARTUP_IMAGES = 18  # the smallest synthetic set: 16 training images (4 per class) and 2 test images


@dataclass(frozen=True)
class Workload:
    """A command whose work splits over processes; ``argv(data, work)`` runs it on the set at ``data``."""

    name: str
    argv: Callable[[argparse.Namespace, Path, Path], list[str]]


def _features_argv(args: argparse.Namespace, data: Path, work: Path) -> list[str]:
    return ["features", "--data", str(data), "--work", str(work), "--model", args.model, "--pretrained", args.pretrained, "--batch-size", str(args.batch_size)]


WORKLOADS = [Workload("CLIP features", _features_argv)]


def _synthetic_set(root: Path, n_images: int) -> Path:
    from cornkit.data.synth import make_synthetic_corn

    n_test = max(2, n_images // 10)
    return make_synthetic_corn(root, n_train=n_images - n_test, n_test=n_test, seed=0).root


def _wall_seconds(argv: list[str], processes: int) -> float:
    """Seconds ``python -m cornkit ARGV --processes N`` takes, start to exit (it must succeed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cornkit", *argv, "--processes", str(processes)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(argv)} --processes {processes} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="cornkit-tiny-clip")
    parser.add_argument("--pretrained", default="none", help="random weights time the same as trained ones, and need no download")
    parser.add_argument("--images", type=int, default=480, help="images in the synthetic set (train + test)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1, help="time each point this many times and keep the fastest")
    args = parser.parse_args()

    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small, full = _synthetic_set(Path(tmp) / "small", STARTUP_IMAGES), _synthetic_set(Path(tmp) / "full", args.images)
        for workload in WORKLOADS:
            base_rate = None
            for processes in args.processes:
                startup = min(_wall_seconds(workload.argv(args, small, Path(tmp) / f"w{processes}-s{r}"), processes) for r in range(args.repeats))
                total = min(_wall_seconds(workload.argv(args, full, Path(tmp) / f"w{processes}-f{r}"), processes) for r in range(args.repeats))
                rate = (args.images - STARTUP_IMAGES) / max(total - startup, 1e-9)
                base_rate = base_rate or rate
                seconds = (f"{startup:.1f}", f"{total:.1f}")
                rows.append((f"{workload.name} {args.model}", processes, *seconds, f"{args.images / total:.1f}", f"{rate:.1f}", f"{rate / base_rate:.2f}x"))

    gpu = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, torch {torch.__version__}, {gpu}")
    print(f"{args.images} images, batch {args.batch_size}; 'start-up' is a run on {STARTUP_IMAGES} images;", end=" ")
    print(f"'work' images/s = (images - {STARTUP_IMAGES}) / (total - start-up)")
    print("| workload | processes | start-up s | total s | images/s overall | images/s of the work | speed-up of the work |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()

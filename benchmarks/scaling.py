"""How cornkit's split work scales with processes on this machine: images/s with 1, 2, ... processes and the speed-up.

Not part of the test suite. Each workload is timed as a user runs it, ``python -m cornkit ...
--processes N`` in a fresh process, twice: on a handful of images (what starting N processes
costs: imports, model load, rendezvous) and on the full set; the difference is the time the
work itself took, so the table shows both the throughput of the work and what a launch adds.
Workloads (:data:`WORKLOADS`): CLIP feature extraction, and one fine-tune epoch (DDP: each
process trains on its share of every batch; ``--batch-size`` is per process, so the global batch
grows with the processes), then its validation and test predictions.

    .venv/bin/python benchmarks/scaling.py --model cornkit-tiny-clip --images 480
    .venv/bin/python benchmarks/scaling.py --model ViT-B-32 --images 240 --processes 1 2
    .venv/bin/python benchmarks/scaling.py --workloads finetune --backbone timm:resnet18 --size 64 --images 480

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
    label: Callable[[argparse.Namespace], str]
    prepare: Callable[[Path, Path], list[str]] | None = None


def _features_argv(args: argparse.Namespace, data: Path, work: Path) -> list[str]:
    return ["features", "--data", str(data), "--work", str(work), "--model", args.model, "--pretrained", args.pretrained, "--batch-size", str(args.batch_size)]


def _finetune_argv(args: argparse.Namespace, data: Path, work: Path) -> list[str]:
    recipe = ["--pretrained", "none", "--size", str(args.size), "--lr", "1e-3", "--epochs", "1", "--lp-epochs", "0", "--monitor-frac", "0", "--no-tta"]
    return ["finetune", "--data", str(data), "--work", str(work), "--backbone", args.backbone, "--batch-size", str(args.batch_size), *recipe]


def _split_argv(data: Path, work: Path) -> list[str]:
    return ["split", "--data", str(data), "--work", str(work)]


WORKLOADS = {
    "features": Workload("features", _features_argv, lambda args: f"CLIP features {args.model}"),
    "finetune": Workload("finetune", _finetune_argv, lambda args: f"fine-tune epoch {args.backbone} {args.size} px", prepare=_split_argv),
}


def _synthetic_set(root: Path, n_images: int) -> Path:
    from cornkit.data.synth import make_synthetic_corn

    n_test = max(2, n_images // 10)
    return make_synthetic_corn(root, n_train=n_images - n_test, n_test=n_test, seed=0).root


def _cornkit(argv: list[str]) -> None:
    """``python -m cornkit ARGV``; it must succeed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "cornkit", *argv], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")


def _wall_seconds(workload: Workload, args: argparse.Namespace, data: Path, work: Path, processes: int) -> float:
    """Seconds ``python -m cornkit ... --processes N`` takes on the set at ``data``, start to exit (after its untimed preparation)."""
    if workload.prepare is not None:
        _cornkit(workload.prepare(data, work))
    started = time.perf_counter()
    _cornkit([*workload.argv(args, data, work), "--processes", str(processes)])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="cornkit-tiny-clip")
    parser.add_argument("--pretrained", default="none", help="random weights time the same as trained ones, and need no download")
    parser.add_argument("--images", type=int, default=480, help="images in the synthetic set (train + test)")
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["features"])
    parser.add_argument("--backbone", default="timm:resnet18", help="fine-tune: the backbone (random weights)")
    parser.add_argument("--size", type=int, default=64, help="fine-tune: input size in pixels")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1, help="time each point this many times and keep the fastest")
    args = parser.parse_args()

    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small, full = _synthetic_set(Path(tmp) / "small", STARTUP_IMAGES), _synthetic_set(Path(tmp) / "full", args.images)
        for workload in (WORKLOADS[name] for name in args.workloads):
            base_rate = None
            for processes in args.processes:
                work = Path(tmp) / workload.name
                startup = min(_wall_seconds(workload, args, small, work / f"p{processes}-s{r}", processes) for r in range(args.repeats))
                total = min(_wall_seconds(workload, args, full, work / f"p{processes}-f{r}", processes) for r in range(args.repeats))
                rate = (args.images - STARTUP_IMAGES) / max(total - startup, 1e-9)
                base_rate = base_rate or rate
                seconds = (f"{startup:.1f}", f"{total:.1f}")
                rows.append((workload.label(args), processes, *seconds, f"{args.images / total:.1f}", f"{rate:.1f}", f"{rate / base_rate:.2f}x"))

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

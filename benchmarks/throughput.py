"""Throughput of the kit's hot paths on this machine: synthetic drawing, CLIP features, probe fit.

Not part of the test suite. Run it with the project's virtualenv, e.g.

    .venv/bin/python benchmarks/throughput.py --model cornkit-tiny-clip --pretrained none
    .venv/bin/python benchmarks/throughput.py --model ViT-B-32 --pretrained /path/to/ckpt.bin --device cuda

and paste the printed table into benchmarks/README.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from cornkit.clip.features import encode_images
from cornkit.clip.model import ClipSpec, load_clip
from cornkit.data.dataset import load_dataset
from cornkit.data.synth import make_synthetic_corn
from cornkit.heads.probe import fit_probe


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cornkit-tiny-clip")
    parser.add_argument("--pretrained", default="none")
    parser.add_argument("--device", default=None)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        summary, seconds = _timed(lambda: make_synthetic_corn(Path(tmp) / "data", n_train=args.n_train, n_test=16, seed=0))
        rows.append(("synthetic set drawing", f"{args.n_train + 16} images", f"{(args.n_train + 16) / seconds:.0f} images/s"))
        dataset = load_dataset(summary.root)
        clip = load_clip(ClipSpec(args.model, args.pretrained), args.device)
        paths = dataset.image_paths("train")
        encode_images(clip, paths[: args.batch_size], batch_size=args.batch_size, num_workers=0, desc="warm-up")
        features = None
        for workers in args.workers:
            features, seconds = _timed(lambda workers=workers: encode_images(clip, paths, batch_size=args.batch_size, num_workers=workers, desc="timed"))
            rows.append(
                (f"CLIP features {clip.spec.label} on {clip.device}", f"batch {args.batch_size}, {workers} workers", f"{len(paths) / seconds:.0f} images/s")
            )
        labels = dataset.train["label"].to_numpy()
        _, seconds = _timed(lambda: fit_probe(features, labels, cv_folds=5))
        rows.append(("probe fit (15 C x 5-fold CV + refit)", f"{len(labels)} x {features.shape[1]} features", f"{seconds:.1f} s"))

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"cuda {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}"
    )
    print("| what | size | result |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

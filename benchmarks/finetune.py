"""Training throughput of ``cornkit finetune`` against a plain PyTorch loop over the same timm model, and its loader alone.

Both train the same timm model (random weights) at the same batch size, image size and
optimizer (AdamW, the betas, eps and weight decay of fastai's Adam); the plain loop reads the
same images, decoded and resized once, from memory, and does nothing but forward, backward and
step. The kit trains through its whole path (the image store, or with ``--image-store none``
fastai DataLoaders reading the PNGs; augmentation; callbacks). Only training epochs are timed
(a callback around fastai's training pass). The two alternate ``--rounds`` times and the
medians are compared, so a machine shared with other work slows both alike.

The loader alone: one augmented training epoch of the kit's DataLoaders at ``--loader-size``
(224 px), from the files (before the store) and from the store, in images per wall second and
per CPU second of this process (on the CPU both load in this one process, so that is per core).

``--clip MODEL``: CLIP feature extraction from the store against a pure forward over random
tensors already on the device, same batch, same autocast. Not part of the test suite:

    .venv/bin/python benchmarks/finetune.py --model resnet18 --size 64 --batch-size 32
    .venv/bin/python benchmarks/finetune.py --device cuda --model convnext_small --size 224 --batch-size 64 --images 2048 \
        --clip ViT-H-14 --clip-batch-size 128                 # AMP and channels_last, as the kit does on CUDA
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import timm
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback

from cornkit.clip.features import encode_images
from cornkit.clip.model import ClipSpec, load_clip
from cornkit.clip.stored import clip_store
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.images import read_image
from cornkit.data.split import make_split
from cornkit.data.synth import make_synthetic_corn
from cornkit.train.backbone import make_backbone
from cornkit.train.data import fold_frame, make_dataloaders
from cornkit.train.finetune import train_finetune
from cornkit.train.settings import FinetuneSettings
from cornkit.train.store_data import training_store

LR, WD, BETAS, EPS = 1e-3, 0.01, (0.9, 0.99), 1e-5


class TrainTimer(Callback):
    """Wall and CPU seconds and images of fastai's training passes (validation and prediction excluded)."""

    def __init__(self) -> None:
        self.seconds, self.cpu_seconds, self.images, self.started, self.cpu_started = 0.0, 0.0, 0, 0.0, 0.0

    def before_train(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def after_batch(self) -> None:
        if self.training:
            self.images += len(self.yb[0])

    def after_train(self) -> None:
        self.seconds += time.perf_counter() - self.started
        self.cpu_seconds += time.process_time() - self.cpu_started


def kit_rate(dataset: Dataset, work: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Images per wall second and per CPU second of ``cornkit finetune``'s training epochs (lr fixed, no lr_find; no monitor rows, no TTA)."""
    split = make_split(dataset, work)
    settings = FinetuneSettings(
        backbone=f"timm:{args.model}",
        pretrained="none",
        size=args.size,
        batch_size=args.batch_size,
        lr=LR,
        epochs=args.epochs,
        lp_epochs=0,
        body_lr_mult=1.0,
        label_smoothing=0.0,
        drop_path=0.0,
        monitor_frac=0,
        tta=False,
        image_store=args.image_store,
    )
    timer = TrainTimer()
    train_finetune(dataset, split, work, settings, device=args.device, cbs=[timer])
    return timer.images / timer.seconds, timer.images / timer.cpu_seconds


def in_memory(dataset: Dataset, model: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training image decoded and resized once, normalised as the kit does, with its class index."""
    model_cfg = timm.get_pretrained_cfg(model)
    mean, std = torch.tensor(model_cfg.mean).view(3, 1, 1), torch.tensor(model_cfg.std).view(3, 1, 1)
    images = []
    for path in dataset.image_paths("train"):
        image = read_image(path, "benchmark").convert("RGB").resize((size, size))
        images.append((torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255 - mean) / std)
    labels = torch.tensor([dataset.classes.index(str(label)) for label in dataset.train[dataset.config.label_column]])
    return torch.stack(images), labels


def plain_rate(images: torch.Tensor, labels: torch.Tensor, args: argparse.Namespace) -> tuple[float, float]:
    """Images per wall second and per CPU second of a bare loop: shuffled full batches, forward, cross-entropy, backward, AdamW step."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=int(labels.max()) + 1).to(device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    scaler = torch.amp.GradScaler("cuda", enabled=on_cuda)
    model.train()
    seen, started, cpu_started = 0, time.perf_counter(), time.process_time()
    for _ in range(args.epochs):
        order = torch.randperm(len(labels))
        for start in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = order[start : start + args.batch_size]
            x, y = images[batch].to(device), labels[batch].to(device)
            if on_cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.float16) if on_cuda else nullcontext():
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            seen += len(batch)
    if on_cuda:
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started), seen / (time.process_time() - cpu_started)


def loader_rates(dataset: Dataset, work: Path, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Images per wall second and per CPU second of one training epoch at ``--loader-size``, from the files and from the store.

    ``delivered``: what the CPU hands to the device (decoded, resized and collated images; or
    batches gathered from the store), the augmentation left out because on a GPU it runs there.
    ``augmented``: the same with fastai's batch augmentation and normalisation run on this device.
    """
    device = torch.device(args.device)
    settings = FinetuneSettings(backbone=f"timm:{args.model}", pretrained="none", size=args.loader_size, batch_size=args.batch_size)
    backbone = make_backbone(settings, dataset.classes)
    frame = fold_frame(dataset, make_split(dataset, work), 0).assign(is_valid=False)
    rates = {}
    for source, store in (("files", None), ("store", training_store(dataset, args.loader_size, work / "image-store"))):
        train = make_dataloaders(frame, dataset.classes, settings, backbone, device, dataset.id_column, store).train
        train.fake_l.num_workers = 0  # one process, so CPU seconds are one core's (on CUDA the kit would add workers to the files)
        for what, loader in (("delivered", train.new(after_batch=None)), ("augmented", train)):
            seen, started, cpu_started = 0, time.perf_counter(), time.process_time()
            for x, _ in loader:
                seen += len(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[f"{source}, {what}"] = (seen / (time.perf_counter() - started), seen / (time.process_time() - cpu_started))
    return rates


def clip_rates(dataset: Dataset, work: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Images/s of CLIP features from the store, and of a pure forward over random tensors already on the device."""
    device = torch.device(args.device)
    clip = load_clip(ClipSpec(args.clip, "none"), device)
    store = clip_store(dataset, clip.preprocess, work / "image-store")
    paths = dataset.image_paths("train")
    encode_images(clip, paths[: args.clip_batch_size], batch_size=args.clip_batch_size, store=store)  # warm-up
    started = time.perf_counter()
    encode_images(clip, paths, batch_size=args.clip_batch_size, store=store)
    stored = len(paths) / (time.perf_counter() - started)
    size = store.arrays["train"].shape[1] if store is not None else 224
    batch = torch.randn(args.clip_batch_size, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    on_cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if on_cuda else nullcontext()
    with torch.inference_mode(), autocast:
        clip.model.encode_image(batch, normalize=True)
        if on_cuda:
            torch.cuda.synchronize()
        started, seen = time.perf_counter(), 0
        while seen < len(paths):
            clip.model.encode_image(batch, normalize=True).float().cpu()
            seen += len(batch)
    return stored, seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="timm model name (random weights)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=320, help="training images in the synthetic set")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating kit/plain measurements (0: the loader and CLIP figures only)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-store", default="auto", help="the kit's --image-store: auto (the store) or none (the files, as before)")
    parser.add_argument("--loader-size", type=int, default=224, help="image size of the loader-alone measurement (0: skip it)")
    parser.add_argument("--clip", help="open_clip model whose feature extraction to time against a pure forward (e.g. ViT-H-14)")
    parser.add_argument("--clip-batch-size", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_dataset(make_synthetic_corn(Path(tmp) / "corn", n_train=args.images, n_test=16, seed=0).root)
        loader = loader_rates(dataset, Path(tmp) / "loader", args) if args.loader_size else {}
        clip = clip_rates(dataset, Path(tmp) / "clip", args) if args.clip else None
        images, labels = in_memory(dataset, args.model, args.size) if args.rounds else (torch.empty(0), torch.empty(0))
        kit, plain = [], []
        for round_ in range(args.rounds):
            kit.append(kit_rate(dataset, Path(tmp) / "work", args))  # one work folder: the store is built once, as in real use
            plain.append(plain_rate(images, labels, args))
            print(
                f"round {round_ + 1}: kit {kit[-1][0]:.1f} images/s ({kit[-1][1]:.1f} per CPU s), "
                f"plain loop {plain[-1][0]:.1f} images/s ({plain[-1][1]:.1f} per CPU s), ratio {kit[-1][0] / plain[-1][0]:.2f}",
                flush=True,
            )
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    print(f"\n| {args.model}, {args.size} px, batch {args.batch_size}, {device}, torch {torch.__version__} | images/s (wall) | images per CPU s |")
    print("|---|---|---|")
    if kit:
        wall = [k[0] / p[0] for k, p in zip(kit, plain, strict=True)]
        cpu = [k[1] / p[1] for k, p in zip(kit, plain, strict=True)]
        kit_wall, kit_cpu = statistics.median(k[0] for k in kit), statistics.median(k[1] for k in kit)
        print(f"| cornkit finetune training epochs ({args.rounds} rounds, --image-store {args.image_store}) | {kit_wall:.1f} | {kit_cpu:.1f} |")
        print(f"| plain PyTorch loop, images in memory | {statistics.median(p[0] for p in plain):.1f} | {statistics.median(p[1] for p in plain):.1f} |")
        print(f"| ratio kit / plain (median of the rounds' ratios) | {statistics.median(wall):.2f} | {statistics.median(cpu):.2f} |")
    for name, (per_wall, per_cpu) in loader.items():
        print(f"| loader alone, {args.loader_size} px, from the {name} | {per_wall:.1f} | {per_cpu:.1f} |")
    for what in ("delivered", "augmented") if loader else ():
        store, files = loader[f"store, {what}"], loader[f"files, {what}"]
        print(f"| loader speed-up store / files, {what} | {store[0] / files[0]:.1f}x | {store[1] / files[1]:.1f}x |")
    if clip is not None:
        print(f"| CLIP {args.clip} features from the store, batch {args.clip_batch_size} | {clip[0]:.1f} | |")
        print(f"| pure forward over tensors on the device | {clip[1]:.1f} | |")
        print(f"| ratio store / pure forward | {clip[0] / clip[1]:.2f} | |")


if __name__ == "__main__":
    main()

"""Commands on CLIP features that make no Run: features, prompts compare (the heads are in ``heads.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import argtypes
from .common import add_data_args, add_image_store_arg, dataset_from_args
from .launch import add_launch_args


def add_clip_args(parser: argparse.ArgumentParser) -> None:
    """The CLIP model, its weights and how to run it: every command on CLIP features takes these."""
    parser.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32, ViT-H-14, cornkit-tiny-clip")
    parser.add_argument(
        "--pretrained", required=True, type=argtypes.pretrained, help="open_clip tag (e.g. laion2b_s32b_b79k), checkpoint file path, or 'none' (random weights)"
    )
    parser.add_argument("--flip-tta", action="store_true", help="average the embeddings of 4 flipped views of each image (4x compute)")
    parser.add_argument("--device", type=argtypes.device, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--batch-size", type=argtypes.positive_int, default=64, help="images per batch (default 64)")
    parser.add_argument("--workers", type=argtypes.non_negative_int, help="DataLoader workers (default: CPU count up to 8 on CUDA, 0 on the CPU)")
    add_launch_args(parser, "feature extraction")


def add_prompt_args(parser: argparse.ArgumentParser) -> None:
    """``--prompts`` and ``--prompt-set``: the text side of zero-shot and of every head that starts from it."""
    parser.add_argument("--prompts", type=Path, help="TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")
    parser.add_argument("--prompt-set", help="set name in the prompt file (default: the file's default)")


def _features(args: argparse.Namespace) -> None:
    from ..clip.features import extract_features
    from ..clip.model import ClipSpec

    spec = ClipSpec(args.model, args.pretrained, flip_tta=args.flip_tta)
    features = extract_features(
        dataset_from_args(args), args.work, spec, device=args.device, batch_size=args.batch_size, num_workers=args.workers, image_store=args.image_store
    )
    print(f"{features.train.shape[0]} train and {features.test.shape[0]} test features of dimension {features.train.shape[1]}")
    print(features.path)


def _prompts_compare(args: argparse.Namespace) -> None:
    from ..clip.model import ClipSpec
    from ..clip.prompt_compare import compare_prompts
    from ..clip.prompts import load_prompt_file
    from ..data.split import load_split

    dataset = dataset_from_args(args)
    comparison = compare_prompts(
        dataset,
        load_split(args.work, dataset),
        args.work,
        ClipSpec(args.model, args.pretrained, flip_tta=args.flip_tta),
        load_prompt_file(args.prompts, dataset.classes),
        device=args.device,
        batch_size=args.batch_size,
        num_workers=args.workers,
    )
    print(comparison.table.drop(columns="description").to_string(index=False))
    print(f"chart: {comparison.png_path}")
    print(comparison.csv_path)


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser("features", help="extract and cache CLIP image features for train and test")
    add_data_args(features)
    add_clip_args(features)
    add_image_store_arg(features)
    features.set_defaults(handler=_features)

    prompts = subparsers.add_parser("prompts", help="prompt-set tools")
    prompt_commands = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    compare = prompt_commands.add_parser("compare", help="score every prompt set on the validation split (table and bar chart)")
    add_data_args(compare)
    add_clip_args(compare)
    compare.add_argument("--prompts", type=Path, help="TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")
    compare.set_defaults(handler=_prompts_compare)

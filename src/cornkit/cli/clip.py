"""Commands on CLIP features that make no Run: features, prompts compare (the heads are in ``heads.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import params
from ..clip.params import ClipParams
from .common import add_data_args, dataset_from_args
from .launch import add_launch_args


def add_clip_args(parser: argparse.ArgumentParser) -> None:
    """The CLIP model, its weights and how to run it (:class:`~cornkit.clip.params.ClipParams`), and ``--gpus``/``--processes``."""
    params.add_arguments(parser, ClipParams)
    add_launch_args(parser, "feature extraction")


def _features(args: argparse.Namespace) -> None:
    from ..clip.features import extract_features

    clip = params.from_namespace(ClipParams, args)
    features = extract_features(dataset_from_args(args), args.work, clip.clip_spec(), image_store=clip.image_store, **clip.extraction_options())
    print(f"{features.train.shape[0]} train and {features.test.shape[0]} test features of dimension {features.train.shape[1]}")
    print(features.path)


def _prompts_compare(args: argparse.Namespace) -> None:
    from ..clip.prompts import load_prompt_file
    from ..data.split import load_split
    from ..reports.prompts import compare_prompts

    dataset = dataset_from_args(args)
    clip = params.from_namespace(ClipParams, args)
    comparison = compare_prompts(
        dataset, load_split(args.work, dataset), args.work, clip.clip_spec(), load_prompt_file(args.prompts, dataset.classes), **clip.extraction_options()
    )
    print(comparison.table.drop(columns="description").to_string(index=False))
    print(f"chart: {comparison.png_path}")
    print(comparison.csv_path)


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser("features", help="extract and cache CLIP image features for train and test")
    add_data_args(features)
    add_clip_args(features)
    features.set_defaults(handler=_features)

    prompts = subparsers.add_parser("prompts", help="prompt-set tools")
    prompt_commands = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    compare = prompt_commands.add_parser("compare", help="score every prompt set on the validation split (table and bar chart)")
    add_data_args(compare)
    add_clip_args(compare)
    compare.add_argument("--prompts", type=Path, help="TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")
    compare.set_defaults(handler=_prompts_compare)

"""Commands on CLIP features: features, zeroshot, prompts compare, probe."""

from __future__ import annotations

import argparse
from pathlib import Path

from typing import TYPE_CHECKING

from .common import add_data_args, dataset_from_args

if TYPE_CHECKING:
    from ..clip_model import ClipSpec
    from ..runs import Run


def _add_clip_args(parser: argparse.ArgumentParser) -> None:
    add_data_args(parser)
    parser.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32, ViT-H-14, cornkit-tiny-clip")
    parser.add_argument("--pretrained", required=True, help="open_clip tag (e.g. laion2b_s32b_b79k), checkpoint file path, or 'none' (random weights)")
    parser.add_argument("--flip-tta", action="store_true", help="average the embeddings of 4 flipped views of each image (4x compute)")
    parser.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, help="DataLoader workers (default: CPU count up to 8 on CUDA, 0 on the CPU)")


def _add_prompt_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompts", type=Path, help="TOML prompt file or Roboflow _tokenization.txt (default: the kit's corn prompts)")


def _spec(args: argparse.Namespace) -> ClipSpec:
    from ..clip_model import ClipSpec

    return ClipSpec(args.model, args.pretrained, flip_tta=args.flip_tta)


def _clip_kwargs(args: argparse.Namespace) -> dict:
    return {"device": args.device, "batch_size": args.batch_size, "num_workers": args.workers}


def _print_run(run: Run) -> None:
    print(f"{run.approach} Run: validation accuracy {run.metrics['val_accuracy']:.4f} on {run.metrics['n_val']} rows")
    print(run.run_id)


def _features(args: argparse.Namespace) -> None:
    from ..features import extract_features

    features = extract_features(dataset_from_args(args), args.work, _spec(args), **_clip_kwargs(args))
    print(f"{features.train.shape[0]} train and {features.test.shape[0]} test features of dimension {features.train.shape[1]}")
    print(features.path)


def _zeroshot(args: argparse.Namespace) -> None:
    from ..prompts import load_prompt_file
    from ..split import load_split
    from ..zeroshot import run_zeroshot

    dataset = dataset_from_args(args)
    prompt_set = load_prompt_file(args.prompts, dataset.classes).get(args.prompt_set)
    run = run_zeroshot(dataset, load_split(args.work, dataset), args.work, _spec(args), prompt_set, **_clip_kwargs(args))
    print(f"prompt set {prompt_set.name!r} ({len(prompt_set.templates)} templates, combine={prompt_set.combine})")
    _print_run(run)


def _prompts_compare(args: argparse.Namespace) -> None:
    from ..prompt_compare import compare_prompts
    from ..prompts import load_prompt_file
    from ..split import load_split

    dataset = dataset_from_args(args)
    comparison = compare_prompts(
        dataset,
        load_split(args.work, dataset),
        args.work,
        _spec(args),
        load_prompt_file(args.prompts, dataset.classes),
        **_clip_kwargs(args),
    )
    print(comparison.table.drop(columns="description").to_string(index=False))
    print(f"chart: {comparison.png_path}")
    print(comparison.csv_path)


def _probe(args: argparse.Namespace) -> None:
    from ..probe import DEFAULT_CS, run_probe
    from ..split import load_split

    dataset = dataset_from_args(args)
    cs = tuple(float(c) for c in args.cs.split(",")) if args.cs else DEFAULT_CS
    run = run_probe(
        dataset,
        load_split(args.work, dataset),
        args.work,
        _spec(args),
        cs=cs,
        class_weight=args.class_weight,
        cv_folds=args.cv_folds,
        seed=args.seed,
        **_clip_kwargs(args),
    )
    print(f"chosen C per fold: {run.metrics['chosen_C']} (cross-validated accuracy {run.metrics['cv_accuracy']})")
    _print_run(run)


def register(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser("features", help="extract and cache CLIP image features for train and test")
    _add_clip_args(features)
    features.set_defaults(handler=_features)

    zeroshot = subparsers.add_parser("zeroshot", help="zero-shot CLIP Run from a prompt set")
    _add_clip_args(zeroshot)
    _add_prompt_args(zeroshot)
    zeroshot.add_argument("--prompt-set", help="set name in the prompt file (default: the file's default)")
    zeroshot.set_defaults(handler=_zeroshot)

    prompts = subparsers.add_parser("prompts", help="prompt-set tools")
    prompt_commands = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    compare = prompt_commands.add_parser("compare", help="score every prompt set on the validation split (table and bar chart)")
    _add_clip_args(compare)
    _add_prompt_args(compare)
    compare.set_defaults(handler=_prompts_compare)

    probe = subparsers.add_parser("probe", help="linear-probe Run: logistic regression on CLIP features, C by cross-validation")
    _add_clip_args(probe)
    probe.add_argument("--cs", help="comma-separated C values to search (default: 15 values from 1e-3 to 1e4)")
    probe.add_argument("--class-weight", choices=["balanced"], help="weight classes inversely to their frequency")
    probe.add_argument("--cv-folds", type=int, default=5)
    probe.add_argument("--seed", type=int, default=0)
    probe.set_defaults(handler=_probe)

"""Commands for the fastai ConvNeXt baseline and for ensembles of Runs: convnext, ensemble."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import CornkitError
from ..options import BALANCE_MODES, CONVNEXT_ARCH, TIMM_HUB
from .common import add_data_args, dataset_from_args


def _convnext(args: argparse.Namespace) -> None:
    from ..convnext import train_convnext
    from ..split import load_split

    dataset = dataset_from_args(args)
    split = load_split(args.work, dataset)
    run = train_convnext(
        dataset,
        split,
        args.work,
        arch=args.arch,
        pretrained=args.pretrained,
        epochs=args.epochs,
        freeze_epochs=args.freeze_epochs,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        balance=args.balance,
        tta=not args.no_tta,
        seed=args.seed,
        fold=args.fold,
        patience=args.patience,
        monitor_frac=args.monitor_frac,
        device=args.device,
    )
    print(f"{run.model}: validation accuracy {run.metrics['val_accuracy']:.4f} on {run.metrics['n_val']} rows")
    print(run.run_id)


def parse_weights(text: str | None) -> list[float] | str | None:
    """``auto``, or comma-separated numbers, one per Run."""
    if text is None or text == "auto":
        return text
    try:
        return [float(w) for w in text.split(",")]
    except ValueError as error:
        raise CornkitError(f"--weights {text!r}: give 'auto' or comma-separated numbers, one per Run, e.g. 0.7,0.3.") from error


def _ensemble(args: argparse.Namespace) -> None:
    from ..ensemble import check_current_split, ensemble_runs
    from ..runs import load_run, save_run
    from ..split import load_split

    runs = [load_run(run, args.work) for run in args.runs]
    if args.data is not None:
        check_current_split(runs, load_split(args.work, dataset_from_args(args, check_images=False)).split_id)
    run = ensemble_runs(runs, parse_weights(args.weights))
    save_run(run, args.work)
    for member in runs:
        print(f"  {member.run_id:60s} weight {run.metrics['weights'][member.run_id]:.3f}  val_accuracy {member.metrics['val_accuracy']:.4f}")
    if "auto_summary" in run.metrics:
        print(run.metrics["auto_summary"])
    print(f"ensemble of {len(runs)} Runs: validation accuracy {run.metrics['val_accuracy']:.4f}")
    print(run.run_id)


def register(subparsers: argparse._SubParsersAction) -> None:
    convnext = subparsers.add_parser("convnext", help="fine-tune a timm backbone with fastai on the split (a Run)")
    add_data_args(convnext)
    convnext.add_argument("--arch", default=CONVNEXT_ARCH, help=f"timm model name, with or without a pretrained tag (default {CONVNEXT_ARCH})")
    convnext.add_argument("--pretrained", default=TIMM_HUB, help="'hub' (timm weights from the Hugging Face hub), a timm checkpoint file, or 'none' (random weights, tests only)")
    convnext.add_argument("--epochs", type=int, default=5, help="epochs after the frozen one(s) (default 5)")
    convnext.add_argument("--freeze-epochs", type=int, default=1, help="epochs with the backbone frozen first (pretrained weights only; default 1)")
    convnext.add_argument("--size", type=int, default=224, help="square input size in pixels (default 224)")
    convnext.add_argument("--batch-size", type=int, default=32)
    convnext.add_argument("--lr", type=float, help="learning rate (default: fastai's lr_find suggestion)")
    convnext.add_argument("--balance", choices=BALANCE_MODES, default="none", help="class imbalance: oversample rare classes or weight the loss")
    convnext.add_argument("--no-tta", action="store_true", help="predict without test-time augmentation")
    convnext.add_argument("--seed", type=int, default=42)
    convnext.add_argument("--fold", type=int, help="train only this fold of a k-fold split (default: every fold)")
    convnext.add_argument("--monitor-frac", type=float, default=0.1, help="share of the training rows that pick the best epoch (default 0.1; 0: all rows train, the last epoch is kept)")
    convnext.add_argument("--patience", type=int, help="stop after this many epochs without a better accuracy on the monitor rows")
    convnext.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    convnext.set_defaults(handler=_convnext)

    ensemble = subparsers.add_parser("ensemble", help="average Runs made on the same split into one Run")
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="run ids or Run folders")
    ensemble.add_argument("--weights", help="'auto' (searched on the validation split) or w1,w2,... (default: equal)")
    ensemble.add_argument("--data", type=Path, help="competition folder: if given, every Run must be made on the split --work holds for it now")
    ensemble.add_argument("--classes", help="with --data: the comma-separated class order given to the member Runs")
    ensemble.add_argument("--work", type=Path, default=Path("work"), help="work folder holding the split and the Runs (default: ./work)")
    ensemble.set_defaults(handler=_ensemble)

"""``cornkit kernels build|list|push|status|output``: Kaggle kernels run by the kit, many at once.

A kernel is a folder ``kernels/<name>/``: one head with its flags (``--name`` makes several
variants of one head), or an ensemble or stack of other kernels' Runs (``--from``). ``push``
fans several out within Kaggle's GPU session limit and weekly quota, ``status`` follows them in
one table, ``output`` brings their Runs back into ``WORK/runs/``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import params
from ..defaults import COMPETITION, STACK_META_MODELS
from ..errors import CornkitError
from ..heads.registry import all_heads, get_head
from ..kaggle.recipes import recipe_for
from ..params import ParamError
from . import argtypes
from .common import add_data_args, dataset_from_args
from .runs import parse_weights

if TYPE_CHECKING:
    from ..kaggle.kernels import KernelFolder

COMBINE_KINDS = ("ensemble", "stack")
PREDICT = "predict"
SET_BY_THE_NOTEBOOK = ("--data", "--work", "--gpus", "--processes", "--pretrained")


def kernel_head_args(head_name: str, args: Sequence[str]) -> tuple[str, ...]:
    """``args`` checked against the head's declared parameters, as the kernel will run them; one line naming the flag if not.

    The one place that decides which head flags a kernel variant may carry: flags the notebook
    sets itself are refused, the rest must build the head's parameters (with the recipe's model),
    exactly as `cornkit HEAD` and ``run_head`` would.
    """
    head = get_head(head_name)
    recipe = recipe_for(head)
    model_flag = recipe.model_flag or None
    for token in args:
        flag = token.split("=", 1)[0]
        if flag in (*SET_BY_THE_NOTEBOOK, model_flag):
            hint = "give --model to `kernels build`" if flag == model_flag else "give --pretrained to `kernels build`" if flag == "--pretrained" else ""
            raise CornkitError(f"--head-args {flag}: the kernel notebook sets {flag} itself{'; ' + hint if hint else ''}.")
    if "-h" in args or "--help" in args:
        raise CornkitError(f"--head-args: --help is not a flag a kernel can run; see `cornkit {head_name} --help`.")
    try:
        head.build_params(**{**recipe.default_params(), **params.parse_argv(head.params, list(args), prog="--head-args")})
    except ParamError as error:
        raise CornkitError(f"{error} (the flags of `cornkit {head_name}`; see `cornkit {head_name} --help`).") from None
    return tuple(args)


def take_flag(tokens: list[str], flag: str) -> str | None:
    """Remove ``flag VALUE`` (or ``flag=VALUE``) from ``tokens`` and return the value (None when absent)."""
    for i, token in enumerate(tokens):
        if token == flag and i + 1 < len(tokens):
            value = tokens[i + 1]
            del tokens[i : i + 2]
            return value
        if token.startswith(f"{flag}="):
            del tokens[i]
            return token.split("=", 1)[1]
    return None


def model_from_head_flags(head_name: str, tokens: list[str], model: str | None, pretrained: str | None) -> tuple[str | None, str | None]:
    """The kernel's model and weights: ``kernels build --model/--pretrained``, or the head's own flags for them among ``tokens``
    (``--head-args "--backbone timm:resnet18 --pretrained none"``), taken out of ``tokens``; both at once is refused."""
    model_flag = recipe_for(get_head(head_name)).model_flag or None
    for flag, given in ((model_flag, model), ("--pretrained", pretrained)):
        if flag is None:
            continue
        value = take_flag(tokens, flag)
        if value is not None and given is not None:
            name = "--model" if flag == model_flag else "--pretrained"
            raise CornkitError(f"{flag} {value} among the head's flags and {name} {given}: give the model once.")
        if value is not None and flag == model_flag:
            model = value
        elif value is not None:
            pretrained = value
    return model, pretrained


def add_accelerator_arg(parser: argparse.ArgumentParser, where: str) -> None:
    parser.add_argument(
        "--accelerator",
        metavar="NAME",
        help=f"Kaggle accelerator, as the kaggle client's `kernels push --accelerator`: NvidiaTeslaT4 (two T4s) or NvidiaTeslaP100; {where}",
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows in aligned columns, headers first."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def kaggle_user(args: argparse.Namespace) -> str:
    from ..kaggle.auth import find_credentials

    user = args.user or find_credentials().username
    if not user:
        raise CornkitError("your Kaggle username is unknown (an access token does not carry it): give --user YOUR_KAGGLE_USERNAME.")
    return str(user)


def _build(args: argparse.Namespace) -> None:
    builders = {PREDICT: _build_predict, **dict.fromkeys(COMBINE_KINDS, _build_combine)}
    kernel = builders.get(args.approach, _build_head)(args)
    print(f"kernel {kernel.kernel_id}: {kernel.metadata['code_file']} and kernel-metadata.json")
    print(kernel.path)


def _build_head(args: argparse.Namespace) -> KernelFolder:
    from ..kaggle.kernels import KernelSpec, build_kernel

    for flag, value in (("--from", args.sources), ("--weights", args.weights), ("--meta", args.meta)):
        if value is not None:
            raise CornkitError(f"{flag} is for ensemble and stack kernels, not for the {args.approach} head.")
    head_flags = shlex.split(args.head_args)
    model, pretrained = model_from_head_flags(args.approach, head_flags, args.model, args.pretrained)
    spec = KernelSpec(
        approach=args.approach,
        user=kaggle_user(args),
        model=model,
        pretrained=pretrained,
        competition=args.competition,
        enable_gpu=args.gpu,
        accelerator=args.accelerator,
        enable_internet=args.internet is not False,
        is_private=not args.public,
        dataset_sources=tuple(args.dataset_source),
        model_sources=tuple(args.model_source),
        extra_args=kernel_head_args(args.approach, head_flags),
        name=args.name,
        split_flags=_local_split_flags(args.work),
    )
    return build_kernel(spec, args.kernels)


def _local_split_flags(work: Path) -> tuple[str, ...]:
    """The flags that make a kernel's split the one saved in ``work`` (none without a saved split: the kernel uses the defaults)."""
    from ..data.split import SPLIT_JSON, load_split
    from ..kaggle.notebook import split_flags

    return split_flags(load_split(work).params) if (work / SPLIT_JSON).is_file() else ()


def _build_combine(args: argparse.Namespace) -> KernelFolder:
    from ..kaggle.combine import CombineSpec, build_combine_kernel, source_kernels

    head_only = {
        "--model": args.model,
        "--pretrained": args.pretrained,
        "--accelerator": args.accelerator,
        "--head-args": args.head_args or None,
    }
    for flag, value in head_only.items():
        if value is not None:
            raise CornkitError(f"{flag} is for a head's kernel; an {args.approach} kernel combines the Runs of the kernels given in --from.")
    if not args.sources:
        raise CornkitError(f"an {args.approach} kernel needs --from A,B,...: the built kernels whose Runs it combines.")
    names = [name.strip() for name in args.sources.split(",") if name.strip()]
    if args.approach == "ensemble":
        weights = parse_weights(args.weights)
        if isinstance(weights, list) and len(weights) != len(names):
            raise CornkitError(f"--weights: {len(weights)} weight(s) for {len(names)} kernels in --from; give one per kernel, in the same order.")
        options: tuple[str, ...] = ("--weights", args.weights) if args.weights else ()
    else:
        if args.weights:
            raise CornkitError("--weights is for an ensemble kernel; a stack learns its combination (choose it with --meta).")
        options = ("--meta", args.meta or STACK_META_MODELS[0])
    spec = CombineSpec(
        kind=args.approach,
        name=args.name or args.approach,
        user=kaggle_user(args),
        sources=source_kernels(names, args.kernels),
        options=options,
        competition=args.competition,
        enable_internet=args.internet is not False,
        is_private=not args.public,
        split_flags=_local_split_flags(args.work),
    )
    return build_combine_kernel(spec, args.kernels)


def _build_predict(args: argparse.Namespace) -> KernelFolder:
    from ..heads.predict import PredictParams
    from ..kaggle.kernels import load_kernel
    from ..kaggle.predict_kernel import PredictKernelSpec, build_predict_kernel

    for flag, value in (("--model", args.model), ("--accelerator", args.accelerator), ("--weights", args.weights), ("--meta", args.meta)):
        if value is not None:
            raise CornkitError(f"{flag} is not for a predict kernel: it predicts with the fitted model of the kernel given in --from.")
    names = [name.strip() for name in (args.sources or "").split(",") if name.strip()]
    if len(names) != 1:
        raise CornkitError("a predict kernel needs --from A: the one built kernel whose Run's fitted model predicts the test images.")
    options = shlex.split(args.head_args)
    pretrained = take_flag(options, "--pretrained")  # checked offline with the weights the source's heads need
    if pretrained is not None and args.pretrained is not None:
        raise CornkitError(f"--head-args has --pretrained {pretrained} and --pretrained {args.pretrained} is given too: give the weights once.")
    pretrained = pretrained or args.pretrained
    try:
        params.parse_argv(PredictParams, [*(("--pretrained", pretrained) if pretrained else ()), *options], prog="cornkit predict")
    except ParamError as error:
        raise CornkitError(f"{error}: a predict kernel takes the flags of `cornkit predict` (see `cornkit predict --help`).") from None
    spec = PredictKernelSpec(
        name=args.name or PREDICT,
        user=kaggle_user(args),
        source=load_kernel(names[0], args.kernels),
        options=tuple(options),
        pretrained=pretrained,
        competition=args.competition,
        enable_internet=bool(args.internet),  # off unless asked: code competitions run inference kernels offline
        is_private=not args.public,
        dataset_sources=tuple(args.dataset_source),
    )
    return build_predict_kernel(spec, args.kernels)


def _list(args: argparse.Namespace) -> None:
    from ..kaggle.kernels import built_kernels

    kernels = built_kernels(args.kernels)
    rows = []
    for kernel in kernels:
        record = kernel.record()
        what = record.head if record.kind == "head" else f"{record.kind} of {','.join(record.sources)}"
        hours = f"{record.run_seconds / 3600:.2f} h" if record.run_seconds is not None else ""
        rows.append((kernel.name, what, shlex.join(record.flags), record.version or "", record.state or "", hours, kernel.kernel_id))
    print(_table(("name", "runs", "flags", "version", "state", "run time", "kernel"), rows))
    print(f"{len(kernels)} kernel(s) in {args.kernels}")


def _selected(args: argparse.Namespace) -> list[KernelFolder]:
    from ..kaggle.kernels import built_kernels, load_kernel

    if args.all == bool(args.names):
        raise CornkitError("name the kernels (e.g. `a b c`) or give --all, not both.")
    if args.all:
        return [kernel for kernel in built_kernels(args.kernels) if kernel.record().version is not None]
    return [load_kernel(name, args.kernels) for name in args.names]


def _push(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.fanout import check_quota, poll_interval, push_all
    from ..kaggle.kernels import load_kernel

    kernels = [load_kernel(name, args.kernels) for name in dict.fromkeys(args.names)]
    session = connect()
    check_quota(kernels, session, force=args.force)
    interval = args.interval or poll_interval()
    responses = push_all(kernels, session, max_running=args.max_running, timeout_s=args.timeout, interval_s=interval, accelerator=args.accelerator)
    print(" ".join(response.url for response in responses))


def _status(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.fanout import follow, poll_interval
    from ..kaggle.kernel_api import FINISHED

    kernels = _selected(args)
    states = follow(kernels, connect(), timeout_s=args.wait, interval_s=args.interval or poll_interval())
    rows = []
    for kernel in kernels:
        state, failure = states[kernel.name]
        rows.append((kernel.name, kernel.kernel_id, kernel.record().version or "", state + (f" ({failure})" if failure else "")))
    print(_table(("name", "kernel", "version", "state"), rows))
    failed = [f"{kernel.kernel_id} failed: {states[kernel.name][1] or 'no message'}" for kernel in kernels if states[kernel.name][0] == "ERROR"]
    if args.wait is not None and failed:
        raise CornkitError(f"{'; '.join(failed)}. Open it on Kaggle to read its log.")
    running = [f"{kernel.kernel_id} is still {states[kernel.name][0]}" for kernel in kernels if states[kernel.name][0] not in FINISHED]
    if args.wait is not None and running:
        raise CornkitError(f"{'; '.join(running)} after {args.wait:g} s: run this again later.")


def _output(args: argparse.Namespace) -> None:
    from ..kaggle.client import connect
    from ..kaggle.kernel_output import import_kernel_runs
    from ..kaggle.kernels import load_kernel

    if args.version is not None and len(args.names) > 1:
        raise CornkitError("--version picks one version of one kernel: name a single kernel with it.")
    kernels = [load_kernel(name, args.kernels) for name in dict.fromkeys(args.names)]
    dataset, session = dataset_from_args(args, check_images=False), connect()
    imported = []
    for kernel in kernels:
        for run in import_kernel_runs(kernel, session, dataset, args.work, version=args.version, with_model=args.with_model):
            print(run.line)
            imported.append(run.run_id)
    print(" ".join(imported))


def register(actions: argparse._SubParsersAction) -> None:
    """The ``kernels`` actions, under ``cornkit kernels``."""
    with_recipe = list(all_heads())
    kernels_dir = {"type": Path, "default": Path("kernels"), "help": "folder of kernel folders (default: ./kernels)"}

    build = actions.add_parser("build", help="write kernels/NAME/ (kernel-metadata.json, the notebook, cornkit-kernel.json)")
    build.add_argument(
        "approach",
        choices=[*with_recipe, *COMBINE_KINDS, PREDICT],
        help="the head the kernel runs, ensemble/stack of other kernels' Runs, or predict: another kernel's fitted model on the test images",
    )
    build.add_argument("--name", help="the kernel's name: its folder, and the end of its title and slug (default: the approach); one per variant")
    build.add_argument("--kernels", **kernels_dir)
    build.add_argument(
        "--work",
        type=Path,
        default=Path("work"),
        help="work folder whose saved split the kernel repeats, metric included (default: ./work)",
    )
    build.add_argument("--user", help="your Kaggle username (default: the one in your credentials)")
    build.add_argument("--model", help="model name (open_clip model or timm arch; default: the approach's)")
    build.add_argument("--pretrained", help="open_clip tag, or a checkpoint path under /kaggle/input (default: the approach's)")
    build.add_argument("--competition", default=COMPETITION, help=f"competition slug (default: {COMPETITION})")
    build.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None, help="run on a GPU (default: yes for heads)")
    add_accelerator_arg(build, "recorded as machine_shape in kernel-metadata.json")
    build.add_argument("--internet", action=argparse.BooleanOptionalAction, help="internet on (default: yes, except for predict kernels)")
    build.add_argument("--public", action="store_true", help="make the kernel public (default: private)")
    build.add_argument("--dataset-source", action="append", default=[], metavar="OWNER/SLUG", help="attach a dataset (wheels, weights); repeatable")
    build.add_argument(
        "--model-source", action="append", default=[], metavar="OWNER/MODEL/FRAMEWORK/VARIATION/VERSION", help="attach a Kaggle model; repeatable"
    )
    build.add_argument(
        "--head-args",
        default="",
        help="the head's own flags for this variant, as `cornkit HEAD` takes them (its model flag and --pretrained too), checked now, "
        "e.g. '--backbone timm:resnet18 --batch-size 32'",
    )
    build.add_argument("--from", dest="sources", metavar="A,B,...", help="ensemble/stack: the built kernels whose Runs it combines; predict: the one kernel")
    build.add_argument("--weights", help="ensemble: 'auto' (searched, cross-fitted) or w1,w2,... (default: equal)")
    build.add_argument("--meta", choices=STACK_META_MODELS, help=f"stack: the level-2 model (default: {STACK_META_MODELS[0]})")
    build.set_defaults(handler=_build)

    listing = actions.add_parser("list", help="the built kernels: head, flags, last pushed version, state, run time")
    listing.add_argument("--kernels", **kernels_dir)
    listing.set_defaults(handler=_list)

    push = actions.add_parser("push", help="push kernels with the official client, at most --max-running GPU kernels at once")
    push.add_argument("names", nargs="+", metavar="NAME", help="built kernels (kernels/NAME/), pushed in this order")
    push.add_argument("--kernels", **kernels_dir)
    add_accelerator_arg(push, "for this push, over kernel-metadata.json's machine_shape")
    push.add_argument("--max-running", type=argtypes.positive_int, default=2, help="GPU kernels running at once (default 2, Kaggle's session limit)")
    push.add_argument(
        "--timeout", type=argtypes.non_negative_float, default=12 * 3600.0, metavar="SECONDS", help="stop waiting to push after this (default 12 h)"
    )
    push.add_argument("--interval", type=argtypes.positive_float, help="seconds between status polls while waiting (default: CORNKIT_KERNEL_POLL_S or 30)")
    push.add_argument("--force", action="store_true", help="push even if the estimated GPU hours exceed the weekly quota left")
    push.set_defaults(handler=_push)

    status = actions.add_parser("status", help="the kernels' run states, in one table")
    status.add_argument("names", nargs="*", metavar="NAME", help="built kernels")
    status.add_argument("--all", action="store_true", help="every built kernel that was pushed")
    status.add_argument("--kernels", **kernels_dir)
    status.add_argument("--wait", type=argtypes.non_negative_float, metavar="SECONDS", help="poll until all finish (fails if one failed or runs after SECONDS)")
    status.add_argument("--interval", type=argtypes.positive_float, help="seconds between polls with --wait (default: CORNKIT_KERNEL_POLL_S or 30)")
    status.set_defaults(handler=_status)

    output = actions.add_parser("output", help="bring the kernels' Runs into WORK/runs/ (checked against the local split and data)")
    output.add_argument("names", nargs="+", metavar="NAME", help="built kernels")
    output.add_argument("--kernels", **kernels_dir)
    add_data_args(output)
    output.add_argument("--version", type=argtypes.positive_int, help="the kernel version to fetch (default: the last one pushed)")
    output.add_argument("--with-model", action="store_true", help="also download the fitted model files (exported learner, .joblib)")
    output.set_defaults(handler=_output)

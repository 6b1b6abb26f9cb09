"""The head registry: every approach that ends in a Run is declared once, as a :class:`Head`.

A head names its approach, its help line, its flags, the function that makes its Run and its
Kaggle kernel recipe. The ``cornkit`` subcommands, the ``kernels build`` choices and recipes,
the demo's list of approaches and the CLI tests are all derived from the registry, so adding
a head is one module that defines ``HEAD`` (plus its tests and a README line).

Heads are found in two ways, merged by name:

- the modules of the :mod:`cornkit.heads` package that define ``HEAD`` (the built-ins; this
  also works where the kit runs from source without installed metadata, as in a Kaggle
  kernel, which unpacks the kit on ``PYTHONPATH``);
- the entry-point group ``cornkit.heads`` (the convention of pytest and other plugin hosts):
  a package outside this repo declares ``[project.entry-points."cornkit.heads"] NAME =
  "module:HEAD"`` and its head appears in ``cornkit --help`` and ``cornkit kernels build``.
  The built-ins are declared there too, so both ways name the same objects.

Head modules stay light at import (no torch, open_clip, fastai or scikit-learn at module
level): the CLI imports them all to build its parser, and ``cornkit --help`` must stay quick.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import CornkitError

if TYPE_CHECKING:
    from ..clip.features import FeatureSet
    from ..clip.model import ClipSpec, LoadedClip
    from ..data.dataset import Dataset
    from ..data.split import Split
    from ..runs.run import Run
    from .on_features import FitFeatures

ENTRY_POINT_GROUP = "cornkit.heads"
Inputs = Literal["features", "images"]


@dataclass(frozen=True)
class KernelRecipe:
    """How a head runs as a Kaggle kernel: what the notebook says and which model it uses by default.

    ``model_flag`` is the flag that takes ``model`` (``--model`` for CLIP heads, ``--arch`` or
    ``--backbone`` for fine-tunes); ``pretrained`` is passed as ``--pretrained`` when set.
    """

    title: str
    explanation: str
    model: str
    pretrained: str | None = None
    model_flag: str = "--model"
    enable_gpu: bool = True


@dataclass
class HeadContext:
    """What a head gets to make its Run: the checked data, the saved split, the work folder, its flags."""

    dataset: Dataset
    split: Split
    work: Path
    args: argparse.Namespace

    @property
    def seed(self) -> int:
        return int(self.args.seed)

    @property
    def clip_spec(self) -> ClipSpec:
        """The CLIP model and weights named by ``--model``/``--pretrained``/``--flip-tta``."""
        from ..clip.model import ClipSpec

        return ClipSpec(self.args.model, self.args.pretrained, flip_tta=self.args.flip_tta)

    @property
    def clip_options(self) -> dict[str, Any]:
        """``--device``, ``--batch-size`` and ``--workers`` as keyword arguments of the feature extractor."""
        return {"device": self.args.device, "batch_size": self.args.batch_size, "num_workers": self.args.workers}

    def head_options(self) -> dict[str, Any]:
        """The head's own flags and their values (JSON-ready), for the Run's config."""
        names = getattr(self.args, "head_flags", ())
        return {name: str(value) if isinstance(value, Path) else value for name, value in sorted(vars(self.args).items()) if name in names}

    def features(self, clip: LoadedClip | None = None) -> FeatureSet:
        """The cached CLIP features of every image (extracted on the first call)."""
        from ..clip.features import extract_features

        return extract_features(self.dataset, self.work, self.clip_spec, clip=clip, **self.clip_options)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A head without flags of its own."""


@dataclass(frozen=True)
class Head:
    """One approach that ends in a Run, declared once.

    A head gives either ``fit_features`` (a head on cached CLIP features: fit on training
    rows, predict others; :func:`~cornkit.heads.on_features.features_run` turns it into a Run on
    every fold, and ``cornkit shots`` into a few-shot curve) or ``make_run`` (anything else,
    e.g. a fine-tune that reads images). Its own flags (``add_arguments``) are recorded in the
    Run's config.

    ``inputs="features"`` heads work on cached CLIP features: the CLI gives them the CLIP
    flags (``--model``, ``--pretrained``, ``--flip-tta``, ``--device``, ``--batch-size``,
    ``--workers``) and the prompt flags (``--prompts``, ``--prompt-set``) of the zero-shot
    classifier they may start from. ``inputs="images"`` heads (fine-tunes) read images and
    declare all their flags. Every head gets ``--data``, ``--classes``, ``--work`` and ``--seed``.

    ``demo_args`` are the head's own flags in ``cornkit demo`` (and in the CLI tests, which run
    every registered head); ``None`` keeps a head out of the demo. ``rank`` orders heads in
    help, the demo and its table. ``describe`` adds one line about a fresh Run to the output.
    """

    name: str
    help: str
    make_run: Callable[[HeadContext], Run] | None = None
    fit_features: FitFeatures | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    inputs: Inputs = "features"
    kernel: KernelRecipe | None = None
    demo_args: tuple[str, ...] | None = ()
    rank: int = 100
    describe: Callable[[Run], str] | None = None

    def __post_init__(self) -> None:
        if (self.make_run is None) == (self.fit_features is None):
            raise TypeError(f"head {self.name!r}: give exactly one of make_run and fit_features")

    @property
    def origin(self) -> str:
        """The module that declares this head (named when two heads clash)."""
        return str((self.make_run or self.fit_features).__module__)

    @property
    def needs_open_clip(self) -> bool:
        return self.inputs == "features"

    def run(self, ctx: HeadContext) -> Run:
        """Make, save and return this head's Run."""
        if self.make_run is not None:
            return self.make_run(ctx)
        from .on_features import features_run

        assert self.fit_features is not None
        return features_run(ctx, self.fit_features, approach=self.name, config=ctx.head_options())


def _builtin_heads() -> list[Head]:
    package = importlib.import_module(__package__ or "cornkit.heads")
    heads = []
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("_") or module_info.name == "registry":
            continue
        head = getattr(importlib.import_module(f"{package.__name__}.{module_info.name}"), "HEAD", None)
        if isinstance(head, Head):
            heads.append(head)
    return heads


def _plugin_heads() -> list[Head]:
    """Heads declared in the ``cornkit.heads`` entry-point group; a broken one is skipped with a warning."""
    heads = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            head = entry_point.load()
        except Exception as error:  # a broken plugin must not take every other command down with it
            print(f"warning: head {entry_point.name!r} ({entry_point.value}) could not be loaded: {error}", file=sys.stderr)
            continue
        if not isinstance(head, Head):
            print(f"warning: entry point {entry_point.name!r} ({entry_point.value}) is not a cornkit Head; skipped.", file=sys.stderr)
            continue
        heads.append(head)
    return heads


def _merge(heads: list[Head]) -> dict[str, Head]:
    merged: dict[str, Head] = {}
    for head in heads:
        known = merged.get(head.name)
        if known is not None and known is not head:
            raise CornkitError(f"two heads are named {head.name!r} ({known.origin} and {head.origin}); uninstall one, or rename it.")
        merged[head.name] = head
    return dict(sorted(merged.items(), key=lambda item: (item[1].rank, item[0])))


@functools.cache
def all_heads() -> dict[str, Head]:
    """Every registered head by name, in ``rank`` order (looked up once per process; ``all_heads.cache_clear()`` looks again)."""
    return _merge(_builtin_heads() + _plugin_heads())


def get_head(name: str) -> Head:
    """The head called ``name``, or an error listing the registered ones."""
    heads = all_heads()
    if name not in heads:
        raise CornkitError(f"no head called {name!r}: choose one of {', '.join(heads)}.")
    return heads[name]


def run_head(name: str, dataset: Dataset, split: Split, work: str | Path, **flags: Any) -> Run:
    """Make a head's Run from Python with the flags of its command (``cs="0.1,1"``, ``flip_tta=True``).

    The flags go through the very parser ``cornkit NAME`` uses, so a notebook gets the same
    defaults, checks and Run (and run id) as the command line. Several processes are started
    by the command line only (``gpus``/``processes`` are refused here): a notebook runs
    ``cornkit NAME ... --gpus auto`` as a child process, as the kernel notebooks do.
    """
    from ..cli import build_parser

    for flag in ("gpus", "processes"):
        value = flags.get(flag)
        if value in (None, 1, "1"):
            continue
        raise CornkitError(
            f"{flag}={value!r}: several processes are started by the command line; run `cornkit {name} ... --{flag} {value}` "
            "(from a notebook, as a child process), or leave it out to train here."
        )

    argv = [name, "--data", str(dataset.root), "--work", str(work)]
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:  # not `not in (None, False)`: 0 == False would drop alpha=0
            argv += [flag, str(value)]
    args = build_parser().parse_args(argv)
    return get_head(name).run(HeadContext(dataset=dataset, split=split, work=Path(work), args=args))

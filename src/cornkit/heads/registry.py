"""The head registry: every approach that ends in a Run is declared once, as a :class:`Head`.

A head is a name, a help line, its parameters (a frozen dataclass declared with
:mod:`cornkit.params`) and how it fits: ``fit`` for a head on cached CLIP features, ``make_run``
for anything else (a fine-tune). The ``cornkit`` subcommands and their flags, ``run_head``, the
``kernels build`` choices, the demo and the CLI tests all derive from these declarations, so
adding a head is one module that defines ``HEAD`` (plus its tests and a README line).

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

import functools
import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import params as declared
from ..errors import CornkitError
from .on_features import FeatureHeadParams

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..clip.features import FeatureSet
    from ..clip.model import LoadedClip
    from ..data.dataset import Dataset
    from ..data.split import Split
    from ..runs.run import Run
    from .on_features import FeatureFitter, FitFeatures

ENTRY_POINT_GROUP = "cornkit.heads"
Inputs = Literal["features", "images"]
EpochReport = Callable[[int, float], None]


@dataclass
class HeadContext:
    """What a head gets to make its Run: the checked data, the saved split, the work folder, its typed parameters.

    ``epoch_report`` is told ``(step, monitor score)`` after each epoch by a head that trains by
    epochs (a sweep's pruner listens; it may raise to stop the training).
    """

    dataset: Dataset
    split: Split
    work: Path
    params: Any
    epoch_report: EpochReport | None = None
    _fitters: dict[Any, FeatureFitter] = field(default_factory=dict, repr=False, compare=False)

    @property
    def seed(self) -> int:
        return int(self.params.seed)

    def feature_fitter(self, fit: FitFeatures) -> FeatureFitter:
        """The fitter of ``fit`` on this context (made once: the features, zero-shot classifier and views it loads serve every fit)."""
        from .on_features import FeatureFitter

        if fit not in self._fitters:
            self._fitters[fit] = FeatureFitter(self, fit)
        return self._fitters[fit]

    def features(self, clip: LoadedClip | None = None) -> FeatureSet:
        """The cached CLIP features of every image (extracted on the first call); features heads only."""
        from ..clip.features import extract_features

        params: FeatureHeadParams = self.params
        return extract_features(self.dataset, self.work, params.clip_spec(), clip=clip, image_store=params.image_store, **params.extraction_options())


@dataclass(frozen=True)
class Head:
    """One approach that ends in a Run, declared once.

    ``params`` is the dataclass of every parameter the head takes besides the data and work
    folders. A head on cached CLIP features (``inputs="features"``) gives ``fit``: fit on one
    fold's training rows and return a fitted model (:class:`~cornkit.heads.on_features.Fitted`);
    its params subclass :class:`~cornkit.heads.on_features.FeatureHeadParams` (the CLIP model,
    prompts and seed), and the fields it adds are its own, recorded in the Run's config. Any
    other head (``inputs="images"``, a fine-tune) gives ``make_run``.

    ``demo`` are parameter values for ``cornkit demo`` and the CLI tests (``None`` keeps the head
    out of the demo); ``launchable`` says whether its command splits over several processes
    (``--gpus``/``--processes``); ``rank`` orders heads in help, the demo and its table;
    ``describe`` adds one line about a fresh Run to the output.
    """

    name: str
    help: str
    params: type
    fit: FitFeatures | None = None
    make_run: Callable[[HeadContext], Run] | None = None
    inputs: Inputs = "features"
    demo: Mapping[str, Any] | None = field(default_factory=dict, compare=False)
    launchable: bool = True
    rank: int = 100
    describe: Callable[[Run], str] | None = None

    def __post_init__(self) -> None:
        if (self.make_run is None) == (self.fit is None):
            raise TypeError(f"head {self.name!r}: give exactly one of make_run and fit")
        if self.fit is not None and not issubclass(self.params, FeatureHeadParams):
            raise TypeError(f"head {self.name!r}: a head on features takes parameters that subclass FeatureHeadParams")
        declared.parameters(self.params)  # every field declared with param(), or a TypeError now rather than at the first run

    @property
    def origin(self) -> str:
        """The module that declares this head (named when two heads clash)."""
        return str((self.make_run or self.fit).__module__)

    @property
    def needs_open_clip(self) -> bool:
        return self.inputs == "features"

    def own_parameters(self) -> list[str]:
        """The parameters this head adds to the shared CLIP/prompt/seed ones (all of them for a head on images)."""
        shared = {p.name for p in declared.parameters(FeatureHeadParams)} if self.inputs == "features" else set()
        return [p.name for p in declared.parameters(self.params) if p.name not in shared]

    def build_params(self, **values: Any) -> Any:
        """The head's parameters from keyword values (text or typed), every constraint checked."""
        return declared.build(self.params, **values)

    def run(self, ctx: HeadContext) -> Run:
        """Make, save and return this head's Run."""
        if self.make_run is not None:
            return self.make_run(ctx)
        from .on_features import features_run

        assert self.fit is not None
        return features_run(ctx, self.fit, approach=self.name, config=declared.as_config(ctx.params, self.own_parameters()))


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
            log.warning("head %r (%s) could not be loaded: %s", entry_point.name, entry_point.value, error)
            continue
        if not isinstance(head, Head):
            log.warning("entry point %r (%s) is not a cornkit Head; skipped.", entry_point.name, entry_point.value)
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


LAUNCH_OPTIONS = ("gpus", "processes")
"""Options of the command line only: several processes are started by ``cornkit HEAD --gpus``, not from Python."""


def run_head(name: str, dataset: Dataset, split: Split, work: str | Path, **params: Any) -> Run:
    """Make a head's Run from Python with its parameters as keyword arguments (``cs="0.1,1"`` or ``cs=(0.1, 1)``).

    The parameters are built and checked from the head's declaration, as ``cornkit NAME`` builds
    them from its flags, so a notebook gets the same defaults, checks and Run (and run id) as
    the command line. Several processes are started by the command line only: a notebook runs
    ``cornkit NAME ... --gpus auto`` as a child process, as the kernel notebooks do.
    """
    for option in LAUNCH_OPTIONS:
        value = params.pop(option, None)
        if value not in (None, 1, "1"):
            raise CornkitError(
                f"{option}={value!r}: several processes are started by the command line; run `cornkit {name} ... --{option} {value}` "
                "(from a notebook, as a child process), or leave it out to train here."
            )
    head = get_head(name)
    return head.run(HeadContext(dataset=dataset, split=split, work=Path(work), params=head.build_params(**params)))

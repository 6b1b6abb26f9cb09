"""A sweep's search space: where each swept parameter may go, always inside what its declaration accepts.

The default space of a head is the fields its parameter class marks ``sweep=SearchRange(...)``
(:mod:`cornkit.params`). ``--space "lr=1e-5..1e-3:log,epochs=4..16,mixup=0..0.4"`` replaces it:
``low..high`` (whole numbers for an integer field, else a linear scale), ``low..high:log``,
or ``a|b|c`` for choices; ``--space none`` sweeps nothing, so that the study's one point is the
parameters the flags fix (what a trial's Kaggle kernel runs). Every range is checked against the declaration before any trial runs,
so ``--space mixup=-1..0.4`` is one line naming mixup's declared range, not a failed trial. A
parameter that a flag fixes is not swept; naming it in ``--space`` as well is refused.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from .. import params as declared
from ..errors import CornkitError
from ..params import Parameter, SearchRange

NO_SPACE = "none"
"""``--space none``: sweep nothing; each trial is the parameters the flags fix."""
_RANGE = re.compile(r"^(?P<low>[^.][^:]*?)\.\.(?P<high>[^:]+?)(?::(?P<scale>log|int|linear))?$")


def _is_tuple(p: Parameter) -> bool:
    return typing.get_origin(p.kind) is tuple


def _item_kind(p: Parameter) -> Any:
    return typing.get_args(p.kind)[0] if _is_tuple(p) else p.kind


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: its declaration and where the sampler may take it."""

    parameter: Parameter
    range: SearchRange

    @property
    def name(self) -> str:
        return self.parameter.name

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial suggests, as the parameter takes it (a tuple field gets a one-value tuple)."""
        r = self.range
        if r.choices is not None:
            value: Any = trial.suggest_categorical(self.name, list(r.choices))
        elif r.scale == "int":
            assert r.low is not None and r.high is not None
            value = trial.suggest_int(self.name, int(r.low), int(r.high))
        else:
            assert r.low is not None and r.high is not None
            value = trial.suggest_float(self.name, float(r.low), float(r.high), log=r.scale == "log")
        return (value,) if _is_tuple(self.parameter) else value


def _refuse(p: Parameter, value: Any) -> str | None:
    """Why the declaration refuses ``value`` (text or a number) for this parameter, or None."""
    try:
        declared.convert(p, (value,) if _is_tuple(p) and not isinstance(value, str) else value)
    except declared.ParamError as error:
        return str(error).split(": ", 1)[-1]
    return None


def _allowed(p: Parameter, kind: Any) -> str:
    """The declared range or choices as the messages show them (``1..`` for whole numbers from 1 up)."""
    c = p.constraint
    if kind is int:
        return f"{'' if c.low is None else int(c.low)}..{'' if c.high is None else int(c.high)}"
    return p.range_text() if kind is float else ", ".join(c.choices or ())


def check_dimension(p: Parameter, r: SearchRange, where: str) -> Dimension:
    """``r`` for ``p``, or a one-line error (``where`` names the flag or declaration) when its kind or ends fall outside the declaration."""
    kind = _item_kind(p)
    allowed = _allowed(p, kind)
    if r.choices is not None:
        for choice in r.choices:
            why = _refuse(p, choice)
            if why:
                raise CornkitError(f"{where}: {p.name}={choice!r} is refused by its declaration ({why}); {p.flag} takes {allowed or 'other values'}.")
        return Dimension(p, r)
    if kind not in (int, float):
        raise CornkitError(f"{where}: {p.name} is not a number; sweep it over choices, e.g. {p.name}=a|b.")
    if kind is int and r.scale != "int":
        assert r.low is not None and r.high is not None
        if r.scale == "log" or not (float(r.low).is_integer() and float(r.high).is_integer()):
            raise CornkitError(f"{where}: {p.name} takes whole numbers; give a range such as {p.name}=2..16.")
        r = SearchRange(r.low, r.high, "int")
    if kind is float and r.scale == "int":
        raise CornkitError(f"{where}: {p.name} is a number, not a whole number; drop ':int' (or add ':log').")
    for end in (r.low, r.high):
        assert end is not None
        why = _refuse(p, int(end) if kind is int else end)
        if why:
            raise CornkitError(f"{where}: {p.name}={r.text()} reaches {end:g}, outside its declared range {allowed} ({why}).")
    return Dimension(p, r)


def default_space(params_class: type) -> list[Dimension]:
    """The fields that ``params_class`` marks sweepable, checked against their own declarations."""
    out = []
    for p in declared.parameters(params_class):
        if p.constraint.sweep is not None:
            out.append(check_dimension(p, p.constraint.sweep, f"{params_class.__name__}.{p.name}"))
    return out


def _parse_range(name: str, text: str) -> SearchRange:
    if "|" in text:
        choices = tuple(part.strip() for part in text.split("|"))
        if len(choices) < 2 or not all(choices):
            raise CornkitError(f"--space {name}={text}: give at least two choices, e.g. {name}=a|b.")
        return SearchRange(choices=choices)
    match = _RANGE.match(text)
    if match is None:
        raise CornkitError(f"--space {name}={text}: write a range as low..high, low..high:log or a|b (e.g. lr=1e-5..1e-3:log).")
    try:
        low, high = float(match["low"]), float(match["high"])
        return SearchRange(low, high, match["scale"] or "linear")  # type: ignore[arg-type]
    except ValueError as error:
        raise CornkitError(f"--space {name}={text}: {error}.") from None


def parse_space(text: str, params_class: type) -> list[Dimension]:
    """The dimensions of a ``--space`` text, each checked against the parameter it names."""
    by_name = {p.name: p for p in declared.parameters(params_class)}
    dimensions: dict[str, Dimension] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, spec = item.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not spec.strip():
            raise CornkitError(f"--space {item!r}: write NAME=RANGE, e.g. lr=1e-5..1e-3:log.")
        if name not in by_name:
            raise CornkitError(f"--space {item!r}: no parameter called {name!r}; this head takes {', '.join(by_name)}.")
        if name in dimensions:
            raise CornkitError(f"--space names {name} twice.")
        dimensions[name] = check_dimension(by_name[name], _parse_range(name, spec.strip()), "--space")
    if not dimensions:
        raise CornkitError(f"--space {text!r} names no parameter; write NAME=RANGE[,NAME=RANGE...].")
    return list(dimensions.values())


def search_space(params_class: type, space: str | None, fixed: Collection[str], head: str) -> list[Dimension]:
    """The dimensions a sweep samples: ``--space`` or the declared defaults, less the parameters that flags fix."""
    if space == NO_SPACE:
        return []
    if space:
        dimensions = parse_space(space, params_class)
        clash = [d.name for d in dimensions if d.name in fixed]
        if clash:
            p = dimensions[[d.name for d in dimensions].index(clash[0])].parameter
            raise CornkitError(f"{p.flag} fixes {p.name}, and --space sweeps it: drop one of the two.")
        return dimensions
    declared_space = default_space(params_class)
    if not declared_space:
        raise CornkitError(f"{head} declares no parameter to sweep by default; name what to sweep with --space NAME=RANGE (e.g. prompt_set=a|b).")
    dimensions = [d for d in declared_space if d.name not in fixed]
    if not dimensions:
        raise CornkitError(f"{head} has nothing left to sweep: its flags fix every parameter it sweeps by default; give --space NAME=RANGE.")
    return dimensions


def space_text(dimensions: Sequence[Dimension]) -> str:
    """The space as ``--space`` writes it (recorded with the study)."""
    return ",".join(f"{d.name}={d.range.text()}" for d in dimensions)

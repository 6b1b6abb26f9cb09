"""Parameters declared once, as data: each field of a frozen dataclass carries its type, default, help and constraint.

A head (or a command of the library) declares its parameters as a dataclass whose fields are
made with :func:`param`. Everything else is derived from that one declaration:

- :func:`build` makes the dataclass from Python values or from command-line text (``run_head``,
  ``cornkit predict``, kernel variants), converts text, and checks every constraint; its errors
  name the parameter both ways, ``--cv-folds (cv_folds=1): ...``, so they read well from the
  command line and from a notebook;
- :func:`add_arguments` derives the argparse flags; their converters run the same checks, so a
  bad flag is one line at parse time;
- :func:`as_config` gives the JSON-ready values a Run records, and :func:`to_argv` the command
  line that makes the same parameters (the demo prints it, kernels run it);
- a field marked ``sweep=SearchRange(...)`` is in its head's default search space
  (``cornkit sweep``, :mod:`cornkit.sweeps.space`): where inside its declared range a sweep looks,
  and on which scale.

argparse is the standard library's: this module loads no code of cornkit's command line, so a
notebook that builds a head's parameters stays as light as the head.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import pydantic

from .defaults import DEFAULT_SEED
from .errors import CornkitError

AUTO = "auto"
_KEY = "cornkit"
P = TypeVar("P")


class ParamError(CornkitError):
    """A parameter value that its declaration refuses."""


Scale = Literal["linear", "log", "int"]


@dataclass(frozen=True)
class SearchRange:
    """Where a sweep looks for a parameter: ``low..high`` on a linear or log scale, whole numbers, or ``choices``.

    It lies inside the field's declared range (a declaration is checked when its head's space is
    built); for a tuple field (the probe's ``cs``) each trial gives it one value.
    """

    low: float | None = None
    high: float | None = None
    scale: Scale = "linear"
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.choices is None and (self.low is None or self.high is None or not self.low < self.high):
            raise ValueError(f"a search range needs low < high, or choices (got {self.low}..{self.high})")
        if self.scale == "log" and self.low is not None and self.low <= 0:
            raise ValueError(f"a log-scale search range starts above 0 (got {self.low:g})")

    def text(self) -> str:
        """As ``--space`` writes it: ``1e-05..0.001:log``, ``2..16`` (whole numbers), ``0..0.4``, ``a|b``."""
        if self.choices is not None:
            return "|".join(self.choices)
        assert self.low is not None and self.high is not None
        if self.scale == "int":
            return f"{int(self.low)}..{int(self.high)}"
        return f"{self.low:g}..{self.high:g}" + (":log" if self.scale == "log" else "")


@dataclass(frozen=True)
class Constraint:
    """What a field accepts, besides its type: a range, choices, the word ``auto``, or a check of its own.

    ``check`` gets the typed value and raises ``ValueError`` with the reason. ``record=False``
    keeps a field out of the Run's config (where a process runs, not what it computes).
    ``flag`` overrides the derived flag name; ``shown_default`` the default as help shows it
    (empty: the help text already says it); ``sweep`` puts the field in its head's default search space.
    """

    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    auto: bool = False
    check: Callable[[Any], None] | None = None
    record: bool = True
    flag: str | None = None
    shown_default: str | None = None
    sweep: SearchRange | None = None


def param(default: Any = MISSING, help: str = "", **constraint: Any) -> Any:
    """A dataclass field with its help and constraint (``low``, ``high``, ``choices``, ``auto``, ``check``, ...)."""
    metadata = {_KEY: Constraint(help=help, **constraint)}
    if default is MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def same_as(cls: type, name: str, *, default: Any = MISSING, help: str | None = None) -> Any:
    """The declaration of ``cls.name`` again (help, constraint; the default unless given): a preset shares its parameters, never copies them."""
    original = {f.name: f for f in dataclasses.fields(cls)}[name]
    constraint: Constraint = original.metadata[_KEY]
    if help is not None:
        constraint = dataclasses.replace(constraint, help=help)
    value = original.default if default is MISSING else default
    return dataclasses.field(default=value, metadata={_KEY: constraint})


@dataclass(frozen=True, kw_only=True)
class Params:
    """Base of every parameter class: a value built directly in Python is checked against its declaration too."""

    def __post_init__(self) -> None:
        validate(self)


def validate(instance: Any) -> None:
    """Check every field of ``instance`` against its declaration (type and range); ParamError naming the first bad one."""
    for p in parameters(type(instance)):
        value = getattr(instance, p.name)
        typed, why = p._validated(value, strict=True)
        if why:
            raise ParamError(f"{p.label(value)}: {why}")
        if typed is not value and not (typed is None and value is None):
            object.__setattr__(instance, p.name, typed)  # a path given as text becomes a Path, a list the declared tuple


def seed_param(what: str = "everything random") -> Any:
    """The ``seed`` every random choice takes (a whole number numpy accepts)."""
    return param(DEFAULT_SEED, f"seed of {what}", low=0, high=2**32 - 1)


@dataclass(frozen=True)
class Parameter:
    """One declared field, resolved: its name, flag, Python type, default and constraint."""

    name: str
    kind: Any
    optional: bool
    default: Any
    constraint: Constraint

    @property
    def flag(self) -> str:
        if self.constraint.flag:
            return self.constraint.flag
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind is bool and self.default is True else f"--{dashed}"

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def label(self, value: Any = MISSING) -> str:
        """``--cv-folds (cv_folds=1)``: the name on both sides of the API."""
        shown = "" if value is MISSING else f"={value!r}" if isinstance(value, str) else f"={value}"
        return f"{self.flag} ({self.name}{shown})"

    def reason(self, value: Any) -> str | None:
        """Why ``value`` (a Python value) is refused, or None: pydantic checks its type strictly and its range, then ``check`` runs."""
        return self._validated(value, strict=True)[1]

    def _validated(self, value: Any, *, strict: bool) -> tuple[Any, str | None]:
        if value is None:
            return None, None if self.optional else "a value is required"
        if isinstance(value, list) and typing.get_origin(self.kind) is tuple:
            value = tuple(value)
        if self.kind is Path and isinstance(value, str):
            value = Path(value)
        try:
            typed = _adapter(self).validate_python(value, strict=strict)
        except pydantic.ValidationError as error:
            return None, _explain(self, error)
        if self.constraint.check is not None and typed != AUTO:
            try:
                self.constraint.check(typed)
            except ValueError as error:
                return None, str(error)
        return typed, None

    def range_text(self) -> str:
        """The declared range as the messages show it: ``1..8`` for whole numbers, ``[0, 1)`` for numbers."""
        c = self.constraint
        if self.kind is int or typing.get_args(self.kind)[:1] == (int,):
            return f"{int(c.low)}..{int(c.high)}" if c.low is not None and c.high is not None else ""
        low = "-inf" if c.low is None else f"{c.low:g}"
        high = "inf" if c.high is None else f"{c.high:g}"
        return f"{'(' if c.low_open else '['}{low}, {high}{')' if c.high_open else ']'}"


@functools.cache
def _adapter(p: Parameter) -> pydantic.TypeAdapter[Any]:
    """The pydantic validator of one declared field: its type, range and choices (``auto`` as a literal beside the number)."""
    c = p.constraint
    bounds = pydantic.Field(
        ge=None if c.low is None or c.low_open else c.low,
        gt=c.low if c.low is not None and c.low_open else None,
        le=None if c.high is None or c.high_open else c.high,
        lt=c.high if c.high is not None and c.high_open else None,
        allow_inf_nan=False,
    )

    def item(kind: Any) -> Any:
        if c.choices is not None:
            return Literal[c.choices]
        return Annotated[kind, bounds] if _is_number(kind) else kind

    kind = p.kind
    annotation: Any = tuple[item(typing.get_args(kind)[0]), ...] if typing.get_origin(kind) is tuple else item(kind)  # type: ignore[misc]
    if c.auto:
        annotation = annotation | Literal["auto"]
    return pydantic.TypeAdapter(annotation)


def _is_number(kind: Any) -> bool:
    return kind in (int, float)


def _explain(p: Parameter, error: pydantic.ValidationError) -> str:
    """pydantic's first complaint in the kit's words: the value, then what the declaration wants."""
    first = error.errors(include_url=False)[0]
    kind, given = first["type"], first.get("input")
    shown = f"{given:g}" if isinstance(given, float) else repr(given) if isinstance(given, str) else str(given)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        shown = given if isinstance(given, str) else shown  # text from the command line, shown as typed
        c = p.constraint
        if c.high is None and c.low is not None:
            if c.low_open:
                return f"{shown} must be greater than {c.low:g}"
            if p.kind is int:
                return f"{shown} is too small: give a whole number of at least {int(c.low)}"
        return f"{shown} is outside {p.range_text()}"
    if kind == "literal_error":
        words = ", ".join(p.constraint.choices or ()) + (", auto" if p.constraint.auto and p.constraint.choices else "")
        return f"{shown} is not one of {words}" if p.constraint.choices else f"{shown} is not a number or auto"
    wants = {"int": "a whole number", "float": "a number", "bool": "true or false", "string": "text", "tuple": "a list", "finite": "a finite number"}
    for prefix, what in wants.items():
        if kind.startswith(prefix):
            return f"{shown} is not {what}"
    return f"{shown}: {first['msg']}"


def _resolve(hint: Any) -> tuple[Any, bool]:
    """The base type of an annotation and whether it admits None (``int | None`` -> (int, True))."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) == 1:
            return rest[0], optional
        if set(rest) == {float, str}:
            return float, optional  # a number or a word such as "auto" (the constraint names the word)
        raise TypeError(f"unsupported parameter type {hint}")
    return hint, False


def parameters(cls: type) -> list[Parameter]:
    """The declared fields of the parameter class ``cls``, in declaration order."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass of parameters")
    hints = typing.get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        constraint = field.metadata.get(_KEY)
        if constraint is None:
            raise TypeError(f"{cls.__name__}.{field.name}: declare it with cornkit.params.param(...)")
        kind, optional = _resolve(hints[field.name])
        default = field.default if field.default is not MISSING else MISSING
        out.append(Parameter(field.name, kind, optional, default, constraint))
    return out


def _from_text(p: Parameter, text: str) -> Any:
    """The typed value of command-line ``text`` (ValueError with the reason): pydantic's lax mode reads the text."""
    stripped = text.strip()
    if p.constraint.auto and stripped.lower() == AUTO:
        return AUTO
    raw: Any = tuple(part.strip() for part in stripped.split(",")) if typing.get_origin(p.kind) is tuple else stripped
    typed, why = p._validated(raw, strict=False)
    if why:
        raise ValueError(why)
    return typed


def convert(p: Parameter, value: Any) -> Any:
    """``value`` (text, or a Python value of the declared type) as the parameter's type, checked; ParamError naming the parameter if not."""
    try:
        if isinstance(value, str) and p.kind is not str and p.kind is not Path:
            return _from_text(p, value)
    except ValueError as error:
        raise ParamError(f"{p.label(value)}: {error}") from None
    why = p.reason(value)
    if why:
        raise ParamError(f"{p.label(value)}: {why}")
    return p._validated(value, strict=True)[0]


def build(cls: type[P], **values: Any) -> P:
    """``cls`` from these values (text or typed), every constraint checked; unknown or missing names are refused by name."""
    declared = {p.name: p for p in parameters(cls)}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(declared), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ParamError(f"unknown parameter {unknown[0]!r}.{hint} Parameters: {', '.join(declared)}.")
    missing = [p for p in declared.values() if p.required and values.get(p.name) is None]
    if missing:
        raise ParamError(f"{missing[0].label()} is required.")
    typed = {name: convert(declared[name], value) for name, value in values.items()}
    return cls(**typed)


def replace(instance: P, **values: Any) -> P:
    """A copy of ``instance`` with ``values`` changed, checked like :func:`build`."""
    current = {p.name: getattr(instance, p.name) for p in parameters(type(instance))}
    return build(type(instance), **{**current, **values})


def as_config(instance: Any, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The recorded fields of ``instance`` (or only ``names``) as JSON-ready values: paths as text, tuples as lists."""
    wanted = None if names is None else set(names)
    out = {}
    for p in parameters(type(instance)):
        if not p.constraint.record or (wanted is not None and p.name not in wanted):
            continue
        value = getattr(instance, p.name)
        out[p.name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
    return out


def _flag_value(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)


def to_argv(cls: type, values: Mapping[str, Any]) -> list[str]:
    """The flags that give ``values`` to a command whose parameters are ``cls`` (the inverse of parsing)."""
    declared = {p.name: p for p in parameters(cls)}
    argv: list[str] = []
    for name, value in values.items():
        p = declared[name]
        if p.kind is bool:
            if value != p.default:
                argv.append(p.flag)
        elif value is not None:
            argv += [p.flag, _flag_value(value)]
    return argv


def _help(p: Parameter) -> str:
    """The flag's help line (argparse formats help with %, so a literal % is doubled)."""
    shown = p.constraint.shown_default
    if p.kind is bool or p.default is MISSING or p.default is None or shown == "":
        text = p.constraint.help
    else:
        text = f"{p.constraint.help} (default {shown or _flag_value(p.default)})"
    return text.replace("%", "%%")


def _argparse_type(p: Parameter) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            typed = _from_text(p, text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        why = p.reason(typed)
        if why:
            raise argparse.ArgumentTypeError(why)
        return typed

    parse.__name__ = p.name  # argparse names the converter in some messages
    return parse


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, skip: Sequence[str] = (), only_given: bool = False) -> None:
    """One flag per parameter of ``cls`` (except ``skip``): ``--cv-folds N``, ``--flip-tta``, ``--no-tta``.

    ``only_given``: a flag left out leaves no attribute in the namespace and none is required
    (``cornkit sweep``, where a flag fixes a parameter and the rest are swept or defaulted).
    """
    for p in parameters(cls):
        if p.name in skip:
            continue
        if p.kind is bool:
            action = "store_false" if p.default is True else "store_true"
            if only_given:
                parser.add_argument(p.flag, dest=p.name, action=action, help=_help(p), default=argparse.SUPPRESS)
            else:
                parser.add_argument(p.flag, dest=p.name, action=action, help=_help(p))
            continue
        metavar = "{" + ",".join(p.constraint.choices) + "}" if p.constraint.choices else None
        parser.add_argument(
            p.flag,
            dest=p.name,
            type=_argparse_type(p),
            default=argparse.SUPPRESS if only_given else None if p.required else p.default,
            required=p.required and not only_given,
            metavar=metavar,
            help=_help(p),
        )


def from_namespace(cls: type[P], namespace: argparse.Namespace) -> P:
    """``cls`` from parsed flags (the fields ``namespace`` has; the rest keep their defaults)."""
    names = {p.name for p in parameters(cls)}
    return build(cls, **{name: value for name, value in vars(namespace).items() if name in names})


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ParamError(f"{self.prog}: {message}")


def parse_argv(cls: type, argv: Sequence[str], *, prog: str) -> dict[str, Any]:
    """The parameters that the flags ``argv`` give (``["--cv-folds", "2"]`` -> ``{"cv_folds": 2}``); errors are ParamError."""
    parser = _RaisingParser(prog=prog, add_help=False, argument_default=argparse.SUPPRESS, allow_abbrev=False)
    for p in parameters(cls):
        if p.kind is bool:
            parser.add_argument(p.flag, dest=p.name, action="store_false" if p.default is True else "store_true")
        else:
            parser.add_argument(p.flag, dest=p.name, type=_argparse_type(p))
    return dict(vars(parser.parse_args(list(argv))))

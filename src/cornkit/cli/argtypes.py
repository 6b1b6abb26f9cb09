"""argparse ``type=`` checkers for numeric flags: a bad value is refused at parse time in one line.

argparse turns the ``ArgumentTypeError`` raised here into ``cornkit CMD: error: argument
--flag: <message>`` with exit code 2, before any data is read or any model is loaded.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum`` (``--epochs``, ``--batch-size``, ``--cv-folds`` ...)."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: give a whole number of at least {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A number in the interval from ``low`` to ``high`` (each end open or closed)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        value = float(_number(text, float))
        if value < low or value > high or (low_open and value == low) or (high_open and value == high):
            raise argparse.ArgumentTypeError(f"{value:g} is outside {interval}")
        return value

    parse.__name__ = f"number in {interval}"
    return parse


def positive_float(text: str) -> float:
    """A number > 0 (learning rates, C values, temperatures)."""
    value = float(_number(text, float))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
fraction = float_in(0.0, 1.0, low_open=True, high_open=True)
"""A share strictly between 0 and 1 (``--valid-frac``, ``--test-frac``)."""


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` inclusive (``--seed``: numpy takes 0 .. 2**32-1)."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    parse.__name__ = f"integer in {low}..{high}"
    return parse


seed = int_in(0, 2**32 - 1)
non_negative_float = float_in(0.0, math.inf)
"""A number >= 0 (``--wait 0``: look once)."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``cornkit CMD: error: MESSAGE`` (exit code 2), without the usage block.

    Subcommand parsers are made of the same class, so every command reports a bad flag alike;
    ``--help`` still shows the usage. No parser takes an abbreviation (``--backb`` for
    ``--backbone``): a flag that a later version adds would silently change what an old
    abbreviation means, in scripts and in kernels.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")

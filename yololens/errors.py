"""Errors that yololens raises on purpose, each with a one-line message."""

from __future__ import annotations


class YololensError(Exception):
    """Base class: a clear, user-facing, one-line error (no traceback needed)."""

    exit_code = 2


class InputError(YololensError):
    """A bad input that makes going on impossible (missing model, empty source, bad layer)."""


class ModelError(InputError):
    """The model cannot be loaded, or cannot do what was asked (e.g. detect model given to seg)."""


class OutputLockedError(YololensError):
    """Another yololens run holds the output directory."""

    exit_code = 3


class StrictModeError(YololensError):
    """``--strict`` was given and an input had to be skipped."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, shortened to ``limit`` characters (its type when it has none)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."

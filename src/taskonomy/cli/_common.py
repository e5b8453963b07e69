"""Shared CLI plumbing: user errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from taskonomy.errors import TaskonomyError

F = TypeVar("F", bound=Callable[..., object])

EXIT_USER_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr; return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USER_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn TaskonomyError (and OSError on user paths) into one stderr line + exit 2."""
    try:
        yield
    except TaskonomyError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename}") from None

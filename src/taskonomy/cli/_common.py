"""Shared CLI plumbing: user errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

import typer
from typer._click.exceptions import UsageError

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


EXIT_INTERRUPTED = 130


def usage_error_line(exc: UsageError) -> str:
    """A click/typer usage error (bad flag value, unknown option) as one ``error:`` line."""
    message = " ".join(exc.format_message().split())
    command = exc.ctx.command_path if exc.ctx is not None else "taskonomy"
    return f"error: {message.rstrip('.')}. See `{command} --help`."


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def interruptible(what: str) -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (so ``finally``/cleanup code runs), and either ends the
    command with one line and exit 130 instead of a traceback."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        print(f"error: interrupted; {what}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

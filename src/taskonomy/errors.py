"""One error type and one message format for the whole project.

Every message says what was received, what is allowed, and how to fix it, so the CLI
can print it as a single line.
"""

from __future__ import annotations

from collections.abc import Iterable


class TaskonomyError(ValueError):
    """A user-facing error: bad input, an infeasible problem, a corrupt file."""


def input_error(what: str, got: object, allowed: str, fix: str = "") -> TaskonomyError:
    """Build the project's standard error: ``<what>: got <got>; expected <allowed>. <fix>``."""
    msg = f"{what}: got {got!r}; expected {allowed}."
    if fix:
        msg += f" {fix}"
    return TaskonomyError(msg)


def one_of(names: Iterable[str]) -> str:
    """Format a list of valid names for an error message."""
    return "one of: " + ", ".join(sorted(names))

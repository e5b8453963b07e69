"""The ``taskonomy`` command line: one module per command, registered here.

Command modules import heavy dependencies (torch) inside their functions so that
``taskonomy solve`` starts fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

# typer ≥ 0.20 vendors click: its usage errors are typer._click's classes, not click's.
from typer._click import exceptions as click_exceptions

from taskonomy import __version__
from taskonomy.cli._common import usage_error_line

app = typer.Typer(
    name="taskonomy",
    help="Task taxonomies: measure task transfer, compute affinities, solve for a policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``.
COMMAND_MODULES = ["solve", "generate", "show", "export", "run", "estimate", "report", "serve"]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"taskonomy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Task taxonomies (Zamir et al., CVPR 2018)."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"taskonomy.cli.{_name}").register(app)


def main() -> None:
    # standalone_mode=False: usage errors come back as exceptions, printed as the one line
    # the README promises instead of typer's multi-line box.
    try:
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:  # typer printed the help already
        sys.exit(exc.exit_code)
    except click_exceptions.UsageError as exc:
        print(usage_error_line(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C outside a command's own handling
        print("error: interrupted.", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)

"""The ``taskonomy`` command line: one module per command, registered here.

Command modules import heavy dependencies (torch) inside their functions so that
``taskonomy solve`` starts fast.
"""

from __future__ import annotations

import importlib

import typer

from taskonomy import __version__

app = typer.Typer(
    name="taskonomy",
    help="Task taxonomies: measure task transfer, compute affinities, solve for a policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``.
COMMAND_MODULES = ["solve", "generate", "show", "export", "run", "report", "serve"]


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
    app()

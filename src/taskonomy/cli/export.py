"""``taskonomy export``: write a bank in another data set's folder layout."""

from __future__ import annotations

from pathlib import Path

import typer

from taskonomy.cli._common import user_errors
from taskonomy.errors import input_error, one_of

LAYOUTS = ("taskonomy",)


def export(
    bank: Path = typer.Argument(..., help="Bank directory (from `taskonomy generate`)."),
    out: Path = typer.Option(..., "--out", help="Folder to create."),
    layout: str = typer.Option(
        "taskonomy", "--layout", help="Target layout: taskonomy (Taskonomy/Omnidata folders)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing folder at --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Export every view of a bank, e.g. as rgb/<building>/point_0_view_0_domain_rgb.png."""
    from taskonomy.data.bank import Bank
    from taskonomy.data.taskonomy_layout import export_taskonomy_layout

    with user_errors():
        if layout not in LAYOUTS:
            raise input_error("--layout", layout, one_of(LAYOUTS))
        src = Bank(bank)
        path = export_taskonomy_layout(src, out, force=force, progress=not quiet)
    if not quiet:
        typer.echo(
            f"wrote {path}: {src.n_views} views of {src.n_scenes} buildings ({layout} layout)"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)

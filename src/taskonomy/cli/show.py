"""``taskonomy show``: a contact sheet of one view with every task's label."""

from __future__ import annotations

from pathlib import Path

import typer

from taskonomy.cli._common import user_errors


def show(
    bank: Path = typer.Argument(..., help="Bank directory (from `taskonomy generate`)."),
    view: int = typer.Option(0, "--view", help="Global view index to show."),
    out: Path | None = typer.Option(
        None, "--out", help="PNG to write (default: BANK/contact_sheet.png)."
    ),
) -> None:
    """Write a contact sheet PNG: one view and every task's label, one titled panel each."""
    from taskonomy.report.contact_sheet import contact_sheet

    with user_errors():
        path = contact_sheet(bank, view=view, out=out)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("show")(show)

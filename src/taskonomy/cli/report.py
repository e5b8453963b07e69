"""``taskonomy report``: a self-contained HTML report of a run directory or an affinity table."""

from __future__ import annotations

from pathlib import Path

import typer

from taskonomy.cli._common import user_errors
from taskonomy.errors import input_error
from taskonomy.rundir import RunFiles


def report(
    run_dir: Path | None = typer.Argument(
        None, help="Run directory written by `taskonomy run` (or use --affinities)."
    ),
    affinities: Path | None = typer.Option(
        None,
        "--affinities",
        help="Any affinity table instead of a run: a project .csv or a 2018 all_affinities*.pkl.",
    ),
    winrates: Path | None = typer.Option(
        None,
        "--winrates",
        help="Folder with win rates (default: the run's tables, or beside the affinity file).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output folder (default: RUN_DIR/report, or ./report-<table name> with --affinities).",
    ),
) -> None:
    """Write index.html (figures inlined) and figures/*.png; print the page's path."""
    from taskonomy.report.html import build_report

    with user_errors():
        if (run_dir is None) == (affinities is None):
            raise input_error(
                "report input",
                "both RUN_DIR and --affinities" if run_dir is not None else "neither",
                "exactly one of RUN_DIR or --affinities PATH",
                "e.g. `taskonomy report runs/quick` or `taskonomy report --affinities T.pkl`.",
            )
        if out is None:
            out = (
                RunFiles(run_dir).report_dir
                if run_dir is not None
                else Path(f"report-{affinities.stem}")  # type: ignore[union-attr]
            )
        path = build_report(out, run_dir=run_dir, affinities=affinities, winrates=winrates)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("report")(report)

"""``taskonomy serve``: the interactive solver page on 127.0.0.1 (see ``report.server``)."""

from __future__ import annotations

from pathlib import Path

import typer

from taskonomy.cli._common import user_errors


def serve(
    run_dir: Path | None = typer.Argument(
        None,
        help="Run directory holding affinities.csv (or tables/affinities.csv) and win rates.",
        show_default=False,
    ),
    affinities: Path | None = typer.Option(
        None, "--affinities", help="Affinity table instead of RUN_DIR: a 2018 .pkl or a .csv."
    ),
    winrates: Path | None = typer.Option(
        None,
        "--winrates",
        help="Folder with win rates (default: beside the affinity table).",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes the page to the network."
    ),
    port: int = typer.Option(8765, "--port", help="Port to listen on; 0 picks a free one."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a web browser."),
) -> None:
    """Serve a local page to choose targets, budget and max order, and solve interactively."""
    from taskonomy.affinity.table import ESTIMATED_NOTE, is_estimated
    from taskonomy.report import server as S

    with user_errors():
        if not 0 <= port <= 65535:
            from taskonomy.errors import input_error

            raise input_error("--port", port, "an integer in 0..65535 (0 = any free port)")
        data = S.load_solver_data(run_dir=run_dir, affinities=affinities, winrates=winrates)
        httpd = S.make_server(data, host=host, port=port)
    wr = "with win rates" if data.winrates is not None else "no win rates (Gain/Quality empty)"
    typer.echo(f"taskonomy solver for {data.affinity_path} ({wr})")
    if is_estimated(data.affinities):
        typer.echo(f"note: {ESTIMATED_NOTE}.")
    typer.echo(f"Serving on {httpd.url}  (Ctrl+C to stop)", err=False)
    if open_browser:
        import webbrowser

        webbrowser.open(httpd.url)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped.")
    finally:
        httpd.server_close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

"""``taskonomy generate``: render a synthetic multi-task image bank."""

from __future__ import annotations

from pathlib import Path

import typer

from taskonomy.cli._common import interruptible, user_errors
from taskonomy.errors import input_error


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.6,0.2,0.2"`` → (0.6, 0.2, 0.2) (large, small, test)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3:
        raise input_error("--splits", text, "three comma-separated numbers: large,small,test")
    return values[0], values[1], values[2]


def generate(
    out: Path = typer.Option(..., "--out", help="Bank directory to create."),
    scenes: int = typer.Option(100, "--scenes", help="Number of scenes (rooms)."),
    views: int = typer.Option(8, "--views", help="Camera views per scene."),
    size: int = typer.Option(64, "--size", help="Image size S (S×S pixels)."),
    seed: int = typer.Option(0, "--seed", help="Global seed; scene i uses a seed derived from it."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Worker processes (default: all cores). Output does not depend on it.",
    ),
    splits: str = typer.Option(
        "0.6,0.2,0.2", "--splits", help="Scene fractions for the large,small,test splits."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing bank at --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Render SCENES synthetic rooms × VIEWS views with every task's label into a bank."""
    from taskonomy.data.bank import Bank
    from taskonomy.data.generate import generate_bank

    with interruptible(f"nothing was written to {out}."), user_errors():
        fractions = parse_fractions(splits)
        path = generate_bank(
            out,
            scenes=scenes,
            views=views,
            size=size,
            seed=seed,
            workers=workers,
            force=force,
            fractions=fractions,
            progress=not quiet,
        )
        bank = Bank(path)
    if not quiet:
        counts = "/".join(str(len(bank.splits[s])) for s in ("large", "small", "test"))
        typer.echo(
            f"wrote {path}: {bank.n_scenes} scenes, {bank.n_views} views of "
            f"{bank.size[0]}×{bank.size[1]}, {len(bank.tasks())} tasks; "
            f"scenes per split large/small/test = {counts}"
        )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)

"""``taskonomy solve``: the taxonomy BIP on an affinity table."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from taskonomy.cli._common import user_errors
from taskonomy.errors import input_error
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.published import published_suffix


def solve(
    affinities: Path = typer.Option(
        ..., "--affinities", help="Affinity table: a 2018 all_affinities*.pkl or a project .csv."
    ),
    budget: float = typer.Option(..., "--budget", help="Supervision budget (Σ label cost)."),
    max_order: str = typer.Option(
        ..., "--max-order", help="Largest transfer order (≥ 1), or 'unlimited'."
    ),
    targets: str | None = typer.Option(
        None, "--targets", help="Comma-separated targets (default: every target in the file)."
    ),
    sources: str | None = typer.Option(
        None, "--sources", help="Comma-separated sources (default: every task in the file)."
    ),
    importance: str | None = typer.Option(
        None, "--importance", help="Per-target weights, e.g. normal=2,depth_zbuffer=0.5."
    ),
    label_cost: str | None = typer.Option(
        None, "--label-cost", help="Per-task label cost (default 1), e.g. normal=3."
    ),
    winrates: Path | None = typer.Option(
        None,
        "--winrates",
        help="Folder with win rates (wins_vs_pixels/wins_vs_self CSVs or 2018 pickles).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Choose which tasks to train and which transfer serves each target."""
    from taskonomy.affinity.table import read_table
    from taskonomy.taxonomy import plan as P

    with user_errors():
        table = read_table(affinities)
        if table.kind != "affinity":
            raise input_error("--affinities table kind", table.kind, "'affinity'")
        wr = (
            P.load_winrates(winrates, published_suffix(affinities))
            if winrates is not None
            else P.find_winrates_for(affinities)
        )
        policy = P.plan(
            table,
            budget=budget,
            max_order=P.parse_max_order(max_order),
            targets=P.parse_names(targets),
            sources=P.parse_names(sources),
            importance=P.parse_assignments(importance, "--importance"),
            label_cost=P.parse_assignments(label_cost, "--label-cost"),
            winrates=wr,
        )
    if as_json:
        typer.echo(json.dumps(policy.to_json(), indent=2))
        return
    _print_table(policy)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _print_table(policy: Policy) -> None:
    from rich.console import Console
    from rich.table import Table

    order = "unlimited" if policy.max_order is None else str(policy.max_order)
    tbl = Table(
        title=(
            f"Taxonomy: budget {policy.budget:g}, max order {order}, "
            f"objective {policy.objective:.4f} ({policy.status})"
        ),
        caption="trained from scratch: " + (", ".join(policy.scratch) or "none"),
    )
    for col in ("target", "kind", "sources", "affinity", "gain", "quality"):
        tbl.add_column(col, justify="right" if col in ("affinity", "gain", "quality") else "left")
    for target, c in policy.choices.items():
        tbl.add_row(
            target,
            c.kind,
            " + ".join(c.sources),
            f"{c.affinity:.4f}",
            _fmt(c.gain),
            _fmt(c.quality),
        )
    Console(width=120).print(tbl)


def register(app: typer.Typer) -> None:
    app.command("solve")(solve)

"""``taskonomy solve``: the taxonomy BIP on an affinity table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from taskonomy.cli._common import user_errors
from taskonomy.taxonomy.policy import Policy


def solve(
    affinities: str = typer.Option(
        ...,
        "--affinities",
        help="Affinity table: a project .csv, a run directory, a 2018 all_affinities*.pkl, or a "
        "packaged name (taskonomy-2018, taskonomy-2018-16k, taskonomy-2018-1k).",
    ),
    budget: str = typer.Option(..., "--budget", help="Supervision budget (Σ label cost)."),
    max_order: str = typer.Option(
        ..., "--max-order", help="Largest transfer order (≥ 1), or 'unlimited'."
    ),
    targets: str | None = typer.Option(
        None, "--targets", help="Comma-separated targets (default: every target in the file)."
    ),
    sources: str | None = typer.Option(
        None,
        "--sources",
        help="Comma-separated sources (default: every task in the file, random included); "
        "a list given here is used as is (add random to allow it).",
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
    objective: str = typer.Option(
        "mean",
        "--objective",
        help="mean: maximize the affinities; lcb: their bootstrap lower bounds (needs "
        "per-image losses).",
    ),
    losses: Path | None = typer.Option(
        None,
        "--losses",
        help="Per-image losses (.npz of `taskonomy run`; default: tables/per_image_losses.npz "
        "beside the table). With them the answer carries intervals and stability.",
    ),
    replicates: int = typer.Option(1000, "--replicates", help="Bootstrap replicates."),
    level: float = typer.Option(0.95, "--level", help="Coverage of the intervals."),
    stability_replicates: int = typer.Option(
        200, "--stability-replicates", help="Replicates on which the BIP is re-solved."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Choose which tasks to train and which transfer serves each target."""
    from taskonomy.affinity.table import ESTIMATED_NOTE, is_estimated, normalization_warnings
    from taskonomy.evaluate.plan import load_table_and_winrates
    from taskonomy.evaluate.uncertainty import (
        bootstrap,
        load_per_image_losses,
        losses_beside,
        plan_with_uncertainty,
    )
    from taskonomy.rundir import affinity_candidates
    from taskonomy.taxonomy.request import PlanRequest

    def table_argument(given: str) -> str | Path:
        """A run directory (or its tables/) stands for its affinity table."""
        if not Path(given).is_dir():
            return given
        found = [p for p in affinity_candidates(given) if p.is_file()]
        return found[0] if found else given  # a folder without one: the usual one-line error

    with user_errors():
        # The same request model as the solver page: same checks, same messages.
        request = PlanRequest.build(
            {"budget": budget, "max_order": max_order, "targets": targets, "sources": sources,
             "importance": importance, "label_cost": label_cost, "objective": objective}
        )  # fmt: skip
        table, wr, path = load_table_and_winrates(table_argument(affinities), winrates)
        request.check_against(table)
        if is_estimated(table):
            print(f"note: {ESTIMATED_NOTE}.", file=sys.stderr)
        for line in normalization_warnings(table):
            print(f"warning: {line}", file=sys.stderr)
        # The per-image losses beside an estimated table measured other transfers' numbers:
        # their bootstrap would describe measured affinities, not these estimates.
        beside = None if is_estimated(table) else losses_beside(path)
        found = losses if losses is not None else beside
        boot = None if found is None else bootstrap(load_per_image_losses(found), replicates, level)
        policy, extra = plan_with_uncertainty(
            table, request, wr, boot, stability_replicates=stability_replicates
        )
    if as_json:
        if is_estimated(table):  # a reader of the JSON alone must see it too
            extra["affinities_kind"] = table.kind
        typer.echo(json.dumps({**policy.to_json(), **extra}, indent=2))
        return
    _print_table(policy)
    if "uncertainty" in extra:
        stab = extra["uncertainty"]["stability"]
        typer.echo(
            f"objective {request.objective}; the policy is the optimum in "
            f"{stab['optimum_probability']:.0%} of {stab['replicates']} bootstrap replicates"
        )


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

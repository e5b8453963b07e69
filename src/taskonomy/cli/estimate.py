"""``taskonomy estimate``: affinity estimates from a run's cached frozen representations,
without training transfers, and their calibration against the measured affinities."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from taskonomy.cli._common import interruptible, user_errors


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2g}" if b > 0 else "–"


def estimate(
    run_dir: Path = typer.Argument(
        ..., help="Run directory written by `taskonomy run` (its encode stage finished)."
    ),
    estimators: str = typer.Option(
        "cka,rsa,dds,ridge,logme,logme_probe",
        "--estimators",
        help="Comma-separated: cka, rsa, dds (task-agnostic); ridge, logme, logme_probe "
        "(target-aware).",
    ),
    max_order: int | None = typer.Option(
        None, "--max-order", help="Largest source set (default: the run's transfer.max_order)."
    ),
    replicates: int = typer.Option(
        1000, "--replicates", help="Bootstrap replicates of the Spearman intervals."
    ),
) -> None:
    """Write tables/estimated_affinities_<estimator>.csv, and tables/estimates_vs_measured.csv
    when the run measured affinities; print the pooled calibration."""
    from taskonomy.errors import input_error
    from taskonomy.pipeline.estimate import POOLED, estimate_run, parse_estimators

    done = "tables written before this are complete files; rerun to finish"
    with user_errors(), interruptible(done):
        names = parse_estimators(estimators)
        if replicates < 0:
            raise input_error("--replicates", replicates, "an integer >= 0")
        result = estimate_run(run_dir, names, max_order, replicates=replicates)
    for path in result.paths:
        typer.echo(str(path))
    if not result.calibration:
        typer.echo("no measured affinities in this run: estimates only, no calibration.")
        return
    total_s = sum(c.seconds for c in result.transfer_compute.values())
    total_f = sum(c.flops for c in result.transfer_compute.values())
    typer.echo(f"pooled Spearman vs measured affinities (transfers: {total_s:.1f} s, "
               f"{total_f:.3g} FLOPs):")  # fmt: skip
    for name, rows in result.calibration.items():
        pooled = next(r for r in rows if r.target == POOLED)
        sec = sum(c.seconds for c in result.compute[name].values())
        flops = sum(c.flops for c in result.compute[name].values())
        ci = (
            f"[{pooled.ci_low:.2f}, {pooled.ci_high:.2f}]"
            if math.isfinite(pooled.ci_low)
            else "[–]"
        )
        typer.echo(
            f"  {name:<6} {pooled.spearman:+.2f} {ci}  n={pooled.n}  "
            f"{sec:.2f} s ({_ratio(sec, total_s)} of the transfers'), "
            f"{flops:.3g} FLOPs ({_ratio(flops, total_f)})"
        )


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)

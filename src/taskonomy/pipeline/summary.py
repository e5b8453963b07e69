"""Human-readable summary of a finished run (printed by ``taskonomy run``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from taskonomy.pipeline.run import RunResult


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def print_summary(result: RunResult, console: Console | None = None) -> None:
    con = console or Console(width=140)
    sanity = Table(title="Sanity (the paper's Table 1): task networks on the test split")
    for col in ("task", "test loss", "guess loss", "win vs guess", "win vs random"):
        sanity.add_column(col, justify="left" if col == "task" else "right")
    for r in result.sanity:
        sanity.add_row(r.task, _f(r.test_loss, 4), _f(r.guess_loss, 4), _f(r.win_vs_guess),
                       _f(r.win_vs_random))  # fmt: skip
    con.print(sanity)

    m, targets, sources = result.affinities.first_order_matrix()
    aff = Table(title="First-order affinities (AHP; rows: targets, columns: sources)")
    aff.add_column("target")
    for s in sources:
        aff.add_column(s[:10], justify="right")
    for i, t in enumerate(targets):
        aff.add_row(t, *("–" if v != v else f"{v:.3f}" for v in m[i]))
    con.print(aff)

    tax = Table(title="Taxonomies (BIP): objective and tasks trained from scratch")
    for col in ("taxonomy", "objective", "scratch", "mean gain", "mean quality"):
        tax.add_column(col)
    for name, rec in result.taxonomies.items():
        if "error" in rec:
            tax.add_row(name, "infeasible", rec["error"][:60], "", "")
            continue
        pol = rec["policy"].values()
        gains = [c["gain"] for c in pol if c["gain"] is not None]
        quals = [c["quality"] for c in pol if c["quality"] is not None]
        tax.add_row(
            name, f"{rec['objective']:.3f}", ", ".join(rec["scratch"]),
            _f(sum(gains) / len(gains) if gains else None),
            _f(sum(quals) / len(quals) if quals else None),
        )  # fmt: skip
    con.print(tax)

    for task, rows in result.novel.items():
        nov = Table(title=f"Novel task {task} (all-for-one): its transfer in each taxonomy")
        for col in ("taxonomy", "sources", "gain (vs pixels)", "vs random", "quality (vs self)"):
            nov.add_column(col)
        for nr in rows:
            nov.add_row(nr["taxonomy"], " + ".join(nr["sources"]), _f(nr["gain"]),
                        _f(nr["win_vs_random"]), _f(nr["quality"]))  # fmt: skip
        con.print(nov)

    total = sum(result.seconds.values())
    con.print(
        "Time: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
        + f"; total {total:.1f}s"
    )
    for line in result.warnings:  # tables/diagnostics.json: the run's plain warnings
        con.print(f"Warning: {line}", markup=False)
    con.print(f"Run directory: {result.run_dir} (tables/, taxonomies/, jobs/, logs/)")

"""The report's "How sure is the taxonomy?" section and the Figure-8 edge opacities (issue 13).

Reads what the pipeline's uncertainty step wrote into a run directory: the ``uncertainty``
and ``significance`` objects of ``taxonomies/*.json``, ``tables/affinities_ci.csv`` and
``tables/significance.json``. A run without them (an older run, ``uncertainty.enabled:
false``) gets a note saying so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from taskonomy.affinity.bootstrap import AffinityBootstrap, read_ci_csv_text
from taskonomy.affinity.table import TransferTable
from taskonomy.evaluate.uncertainty import (
    bootstrap,
    load_per_image_losses,
    plan_with_uncertainty,
)
from taskonomy.rundir import RunFiles
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import PlanRequest

GridKey = tuple[float, int | None]


def _records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    out = []
    for p in RunFiles(run_dir).taxonomy_files():
        record = json.loads(p.read_text(encoding="utf-8"))
        if "error" not in record:
            out.append(record)
    return out


def _key(record: dict[str, Any]) -> GridKey:
    k = record["max_order"]
    return float(record["budget"]), None if k is None else int(k)


def edge_stability(run_dir: str | os.PathLike[str]) -> dict[GridKey, dict[str, float]]:
    """``(budget, max order) → {target → frequency of its chosen edge}`` of a run's taxonomies."""
    out: dict[GridKey, dict[str, float]] = {}
    for r in _records(run_dir):
        stab = r.get("uncertainty", {}).get("stability")
        if stab:
            out[_key(r)] = {t: float(e["frequency"]) for t, e in stab["edge_frequency"].items()}
    return out


def _fmt(x: object, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"
    return escape(str(x))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def section_uncertainty(run_dir: Path | None) -> str:
    """HTML of the section (or a note why it is empty)."""
    if run_dir is None:
        return _note(
            "Only drawn for a run directory; an affinity table alone has no per-image losses."
        )
    files = RunFiles(run_dir)
    records = [r for r in _records(run_dir) if "uncertainty" in r]
    if not files.affinities_ci_csv.is_file() or not records:
        return _note(
            f"{files.affinities_ci_csv.relative_to(run_dir)} or the taxonomies' stability is "
            "missing (a run from an older version, or `uncertainty: {enabled: false}`)."
        )
    parts: list[str] = []
    ci = read_ci_csv_text(files.affinities_ci_csv.read_text(encoding="utf-8"))
    widths = [ci["upper"][tr] - ci["lower"][tr] for tr in ci["value"]]
    level = records[0]["uncertainty"]["level"]
    parts.append(
        f"<p>Bootstrap over the test images of the whole chain (losses → tournament → AHP): "
        f"{len(widths)} affinities with {level:.0%} percentile intervals in "
        f"<code>tables/affinities_ci.csv</code>; median interval width "
        f"{float(np.median(widths)):.4f}. Edge opacity in the taxonomy grid above is the "
        f"share of bootstrap replicates whose re-solved optimum serves the target the same "
        f"way.</p>"
    )
    rows = []
    for r in sorted(records, key=lambda r: (_key(r)[1] or 99, _key(r)[0])):
        stab = r["uncertainty"]["stability"]
        weakest = min(stab["edge_frequency"].items(), key=lambda kv: kv[1]["frequency"])
        sig = r.get("significance", {})
        g, q = sig.get("gain", {}), sig.get("quality", {})
        rows.append([
            _fmt(f"{r['budget']:g}"),
            _fmt("unlimited" if r["max_order"] is None else r["max_order"]),
            _fmt(stab["optimum_probability"]), _fmt(stab.get("exact_optimum_probability")),
            _fmt(stab["replicates"]),
            escape(f"{weakest[0]} ← {weakest[1]['sources']} ({weakest[1]['frequency']:.2f})"),
            _fmt(g.get("percentile"), 1), _fmt(g.get("p_value")),
            _fmt(q.get("percentile"), 1), _fmt(q.get("p_value")),
        ])  # fmt: skip
    head = ["budget", "max order", "P(optimum)", "P(same solve)", "replicates",
            "least stable edge", "Gain percentile", "Gain p", "Quality percentile",
            "Quality p"]  # fmt: skip
    parts.append(
        "<p>Per taxonomy: the bootstrap probability that it is the optimum (the replicates in "
        "which its choices reach the re-solved optimum's objective: ties count, such as "
        "transfers that all lose to the constant guess and tie at its ceiling), the share "
        "whose re-solve returns this very policy, its least stable edge, and its mean "
        "Gain/Quality against random feasible policies of the same budget "
        "(percentile; one-sided Monte-Carlo p-value).</p>" + _table(head, rows)
    )
    if files.significance_json.is_file():
        sig = json.loads(files.significance_json.read_text(encoding="utf-8"))
        summary = "; ".join(
            f"better than {s['baseline']}: {s['significant']} of {s['targets']} targets"
            for s in sig["summary"]
        )
        trs = [
            [escape(x["target"]), escape(x["best"]), escape(x["baseline"]), _fmt(x["win_rate"]),
             _fmt(x["p_value"]), "yes" if x["significant"] else "no"]
            for x in sig["rows"]
        ]  # fmt: skip
        parts.append(
            f"<p>Is each target's best transfer significantly better than the baselines? "
            f"Paired one-sided Wilcoxon test on the per-image losses, p &lt; "
            f"{1 - sig['level']:.2g} ({escape(summary)}).</p>"
            + _table(["target", "best transfer", "baseline", "win rate", "p", "significant"], trs)
        )
    return "".join(parts)


# ---- the solver page ---------------------------------------------------------------------
SERVER_REPLICATES = 1000  # bootstrap replicates (vectorized: about a second on CPU)
SERVER_STABILITY_REPLICATES = 100  # BIP re-solves per page solve: keeps the page responsive


@lru_cache(maxsize=4)
def _server_bootstrap(path: str, mtime_ns: int) -> AffinityBootstrap:
    # Keyed by the file's mtime too: a run that rewrote its losses is read again.
    return bootstrap(load_per_image_losses(path), SERVER_REPLICATES)


def server_bootstrap(losses: Path | None) -> AffinityBootstrap | None:
    """The (cached) bootstrap of a served table's per-image losses, or ``None``."""
    if losses is None:
        return None
    return _server_bootstrap(str(losses), losses.stat().st_mtime_ns)


def server_solve(
    table: TransferTable,
    request: PlanRequest,
    winrates: tuple[TransferTable, TransferTable] | None,
    losses: Path | None,
) -> tuple[Policy, dict[str, Any]]:
    """What ``POST /api/solve`` answers: the policy and, with losses, its ``uncertainty``."""
    return plan_with_uncertainty(
        table,
        request,
        winrates,
        server_bootstrap(losses),
        stability_replicates=SERVER_STABILITY_REPLICATES,
    )

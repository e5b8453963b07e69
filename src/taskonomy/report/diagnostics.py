"""The report's diagnostics section and the task tree's agreement with the task families.

:func:`family_scores` compares the report's :class:`~taskonomy.report.tree.TaskTree` with
the registry's families (ARI of the tree cut into as many clusters as there are families;
AUC of same- vs cross-family cosine distances of the affinity columns). The section reads
``tables/diagnostics.json`` (written by the pipeline, :mod:`taskonomy.evaluate.diagnostics`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from taskonomy.affinity.table import TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.diagnostics import adjusted_rand_index, separation_auc
from taskonomy.rundir import RunFiles
from taskonomy.tasks import get_task


def family_scores(table: TransferTable) -> dict[str, Any]:
    """``{"ari", "auc", "n_families", "tasks"}`` of the affinity table's task tree;
    ``{"error": why}`` when the table is too small for a tree."""
    from taskonomy.report.tree import TaskTree

    try:
        tree = TaskTree().fit(table)
    except TaskonomyError as exc:
        return {"error": str(exc)}
    tasks = [t for t in tree.tasks_ if get_task(t).family != "baseline"]
    keep = [tree.tasks_.index(t) for t in tasks]
    fams = [get_task(t).family for t in tasks]
    n_fam = len(set(fams))
    if len(tasks) < 2:
        return {"error": "fewer than 2 task leaves"}
    cut = tree.clusters(min(n_fam, len(tree.tasks_)))
    dist = tree.distances_[keep][:, keep]
    return {
        "ari": adjusted_rand_index([cut[t] for t in tasks], fams),
        "auc": separation_auc(dist, fams),
        "n_families": n_fam,
        "tasks": tasks,
    }


def _esc(x: object) -> str:
    return html.escape(str(x))


def _num(x: object, digits: int = 3) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int | float):
        return f"{x:.{digits}g}"
    return "–" if x is None else _esc(x)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def diagnostics_section(run_dir: Path | None) -> str:
    """HTML of the diagnostics section (a note when the run has no diagnostics.json)."""
    path = RunFiles(run_dir).diagnostics_json if run_dir is not None else None
    if path is None or not path.is_file():
        return '<p class="note">No tables/diagnostics.json (an affinity table alone, or a run ' \
            "from an older version).</p>"  # fmt: skip
    d = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    warnings = d.get("warnings", [])
    if warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        parts.append(f'<div class="note"><b>Warnings</b><ul>{items}</ul></div>')
    else:
        parts.append('<p class="note">No warnings: every check met its goal.</p>')
    goal = d.get("win_goal", 0.6)
    parts.append(
        f"<p>Sanity against the loss-optimal constant (<code>guess</code>: median under L1, "
        f"mean under L2, class prior under CE) and the random encoder; goal ≥ {goal:.0%} of "
        "the test images each. <i>step 0</i>: early stopping kept the initialization.</p>"
    )
    parts.append(_table(
        ["task", "win vs guess", "win vs random", "kept step", "meets goal"],
        [[_esc(r["task"]), _num(r.get("win_vs_guess")), _num(r.get("win_vs_random")),
          _num(r.get("best_step")), _num(r.get("meets_goal"))] for r in d.get("sanity", [])],
    ))  # fmt: skip
    parts.append(
        "<p>Per target: spread = (loss(random) − loss(best)) / loss(random) of the first-order "
        "transfers; p-values of the paired one-sided Wilcoxon test of the best transfer "
        f"against random and the guess (within noise: p ≥ {d.get('alpha', 0.05)}); transfers "
        "that lose to the guess on average rank below every other in AHP (see "
        "<code>tables/effects.csv</code> for effect sizes with confidence intervals).</p>"
    )
    parts.append(_table(
        ["target", "best source", "spread", "own network best", "p vs random", "p vs guess",
         "within noise", "lose to guess", "AHP CR"],
        [[_esc(t["target"]), _esc(t.get("best_source", "–")), _num(t.get("spread")),
          _num(t.get("own_network_best")), _num(t.get("p_best_vs_random")),
          _num(t.get("p_best_vs_guess")), _num(t.get("within_noise")),
          str(len(t.get("loses_to_guess", []))), _num(t.get("consistency_ratio"))]
         for t in d.get("targets", [])],
    ))  # fmt: skip
    fam = d.get("family", {})
    parts.append(
        f"<p>Own network best for {d.get('own_network_best_count', 0)} of "
        f"{len(d.get('targets', []))} targets. Task tree vs the registry's families: "
        f"ARI {_num(fam.get('ari'))} (1 = the families exactly, ~0 = chance), AUC "
        f"{_num(fam.get('auc'))} (share of same-family pairs closer than cross-family pairs; "
        "0.5 = chance).</p>"
    )
    seeds = d.get("seeds")
    if seeds:
        parts.append(
            f"<p>Seeds {_esc(seeds.get('seeds'))}: Spearman of first-order affinities pooled "
            f"{_num(seeds.get('spearman_pooled'))}, per-target median "
            f"{_num(seeds.get('spearman_target_median'))}; Jaccard of trained sets "
            f"{_esc(seeds.get('jaccard', {}))}.</p>"
        )
    return "".join(parts)

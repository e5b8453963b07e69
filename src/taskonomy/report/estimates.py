"""The report's "Cheap estimates vs measured affinities" section (issue 12).

Reads ``tables/estimates_vs_measured.csv`` (written by ``taskonomy estimate`` or the
pipeline's ``transfer.estimate: true``): per estimator its pooled Spearman with the
measured affinities (bootstrap interval) and its compute relative to the trained
transfers, then Spearman per target. A run without the file gets a note saying how to
make it.
"""

from __future__ import annotations

import csv
import math
import os
from html import escape

from taskonomy.rundir import RunFiles

POOLED = "pooled"


def _num(x: str, digits: int = 2, fmt: str = "f") -> str:
    try:
        v = float(x)
    except ValueError:
        return "–"
    return "–" if not math.isfinite(v) else f"{v:.{digits}{fmt}}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(
        f"<th{' class=name' if i == 0 else ''}>{escape(h)}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>" + "".join(f"<td{' class=name' if i == 0 else ''}>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )  # fmt: skip
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def section_estimates(run_dir: str | os.PathLike[str] | None) -> str:
    """HTML body of the section (a note when there is nothing to show)."""
    if run_dir is None:
        return (
            '<p class="note">Only drawn for a run directory: calibrating estimates needs '
            "the run's measured affinities.</p>"
        )
    path = RunFiles(run_dir).estimates_vs_measured_csv
    if not path.is_file():
        return (
            f'<p class="note">No {escape(path.name)} in this run: run <code>taskonomy '
            "estimate RUN_DIR</code> (or set <code>transfer.estimate: true</code>) to estimate "
            "affinities from the cached representations without training transfers and "
            "compare them with the measured ones.</p>"
        )
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    pooled = [r for r in rows if r["target"] == POOLED]
    head = ["estimator", "pooled Spearman", "95% interval", "transfers", "seconds",
            "FLOPs", "seconds / transfers'", "FLOPs / transfers'"]  # fmt: skip
    summary = [
        [
            escape(r["estimator"]), _num(r["spearman"]),
            f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]", escape(r["n"]),
            _num(r["seconds"], 3, "g"), _num(r["flops"], 3, "g"),
            _num(r["seconds_ratio"], 2, "g"), _num(r["flops_ratio"], 2, "g"),
        ]
        for r in pooled
    ]  # fmt: skip
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows if r["target"] != POOLED))
    cell = {(r["estimator"], r["target"]): r["spearman"] for r in rows}
    per_target = [[escape(e), *(_num(cell.get((e, t), "")) for t in targets)] for e in estimators]
    return (
        "<p>Affinities <em>estimated</em> from the frozen representations without training "
        "transfers (<code>tables/estimated_affinities_&lt;estimator&gt;.csv</code>), ranked "
        "against the measured affinities: Spearman over every transfer both hold "
        "(<code>self</code> left out), with a percentile bootstrap interval over those "
        "transfers; compute is the estimator's against the trained transfers' "
        "(docs/estimate.md).</p>"
        + (
            "<p>Rows <code>measured_seed_&lt;j&gt;</code> (runs over several seeds) rank "
            "another training seed's <em>measured</em> affinities the same way: what "
            "measuring again gives, so no estimator can be expected to do much better.</p>"
            if any(r["estimator"].startswith("measured_seed_") for r in pooled)
            else ""
        )
        + _table(head, summary)
        + "<p>Spearman per target:</p>"
        + _table(["estimator", *targets], per_target)
    )

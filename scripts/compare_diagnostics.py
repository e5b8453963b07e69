"""Print the representation measures of several runs side by side (docs/representation.md).

    python scripts/compare_diagnostics.py runs/rep-base runs/rep-steps3x ...

Each RUN_DIR is a finished ``taskonomy run`` output; its ``tables/diagnostics.json`` gives
the measures of issue 10 (own network best, median representation spread, family ARI/AUC,
the networks' win rates against the guess and ``random``), its train jobs the networks'
test-loss gain over the constant guess, and its job records the summed job wall seconds
(divide by the workers for an estimate of the run's unloaded wall time).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COLUMNS = (
    ("run", "run"),
    ("own_best", "own best"),
    ("spread_median", "median spread"),
    ("spread_min", "min spread"),
    ("ari", "family ARI"),
    ("auc", "family AUC"),
    ("win_guess_min", "min win vs guess"),
    ("win_random_min", "min win vs random"),
    ("gain_median", "median net gain vs guess"),
    ("job_seconds", "job s (sum)"),
)


def measures(
    diag: Mapping[str, Any], train_results: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """One row of measures from a diagnostics record and the train jobs' ``result``s.

    ``gain_median``: median over task networks of 1 − test loss / guess test loss.
    """
    targets = diag.get("targets", [])
    spreads = [t["spread"] for t in targets if t.get("spread") is not None]
    own = [t for t in targets if "own_network_best" in t]
    fam = diag.get("family", {})
    sanity = diag.get("sanity", [])
    wins_g = [r["win_vs_guess"] for r in sanity if r.get("win_vs_guess") is not None]
    wins_r = [r["win_vs_random"] for r in sanity if r.get("win_vs_random") is not None]
    gains = [
        1 - r["test_loss"] / r["guess_test_loss"]
        for r in train_results
        if r.get("guess_test_loss") and r.get("test_loss") is not None
    ]
    return {
        "own_best": f"{sum(bool(t['own_network_best']) for t in own)}/{len(own)}",
        "spread_median": statistics.median(spreads) if spreads else None,
        "spread_min": min(spreads) if spreads else None,
        "ari": fam.get("ari"),
        "auc": fam.get("auc"),
        "win_guess_min": min(wins_g) if wins_g else None,
        "win_random_min": min(wins_r) if wins_r else None,
        "gain_median": statistics.median(gains) if gains else None,
    }


def _cell(x: object) -> str:
    if isinstance(x, float):
        return f"{x:.3f}"
    return "–" if x is None else str(x)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of ``rows`` (dicts keyed like :data:`COLUMNS`)."""
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def read_run(run: Path) -> dict[str, Any]:
    """The measures of one run directory (first seed's tables when several seeds ran)."""
    diag_path = run / "tables" / "diagnostics.json"
    if not diag_path.is_file():
        seeds = sorted((run / "seeds").glob("*/tables/diagnostics.json"))
        if not seeds:
            raise SystemExit(f"{run}: no tables/diagnostics.json; is it a finished run?")
        diag_path = seeds[0]
    diag = json.loads(diag_path.read_text())
    records = [json.loads(p.read_text()) for p in run.glob("jobs/*/*/job.json")]
    train = [r.get("result") or {} for r in records if r.get("kind") == "train"]
    row = measures(diag, train)
    row["run"] = run.name
    row["job_seconds"] = round(sum(float(r.get("wall_s") or 0) for r in records))
    return row


def main(argv: Sequence[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(markdown_table([read_run(Path(a)) for a in argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

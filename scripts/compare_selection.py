"""Compare an ``all`` run with an ``active`` run of the same config (docs/active.md).

    python scripts/compare_selection.py runs/quick-all runs/quick-active

Per budget × order: are the policies the same answer (scratch set and every target's
choice)? Then the active run's ``tables/selection.json`` compute (transfer steps × per-step
cost against every candidate fully trained), its rounds, and the transfer jobs' compute
seconds of both runs (seconds depend on the machine's load when each job ran).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from taskonomy.rundir import RunFiles


def _answers(run: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in sorted((run / "taxonomies").glob("budget*.json")):
        r = json.loads(f.read_text())
        choices = sorted((t, c["kind"], tuple(c["sources"])) for t, c in r["policy"].items())
        out[f.stem] = r.get("error") or (sorted(r["scratch"]), choices)
    return out


def _transfer_seconds(run: Path) -> float:
    total = 0.0
    for d in (run / "jobs" / "transfer").iterdir():
        record = d / "job.json"
        if record.is_file():
            total += float((json.loads(record.read_text()).get("result") or {})
                           .get("compute_seconds", 0.0))  # fmt: skip
    return total


def main(all_run: Path, active_run: Path) -> None:
    a, b = _answers(all_run), _answers(active_run)
    print("taxonomy            same policy")
    for name in sorted(a, key=lambda n: (n.split("_")[1], int(n[6:].split("_")[0]))):
        print(f"{name:19s} {'yes' if a[name] == b.get(name) else 'NO'}")
    sel = json.loads(RunFiles(active_run).selection_json.read_text())
    c = sel["compute"]
    print(f"compute units active/all: {c['units']:.0f}/{c['units_if_all']:.0f} = {c['ratio']:.3f}; "
          f"fully trained {c['full']}, probe only {c['probe_only']}")  # fmt: skip
    for r in sel["rounds"]:
        print(f"  round {r['round']}: trained {r['trained']}, flips {r['flips']}, "
              f"completions {r['completions']}")  # fmt: skip
    print(f"transfer compute seconds: all-run folder {_transfer_seconds(all_run):.0f}, "
          f"active selection {c['seconds']:.0f}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))

"""One planning code path for the CLI (`taskonomy solve`) and the solver page.

Parses the user's choices, loads tables, solves the BIP and attaches Gain/Quality.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from taskonomy.affinity.table import TransferTable
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate.gain_quality import WinRates, attach_gain_quality, load_winrates
from taskonomy.tasks import canonical_name
from taskonomy.taxonomy.policy import Policy


def parse_names(text: str | None) -> list[str] | None:
    """``"a,b,c"`` → canonical names; ``None``/empty → ``None`` (use the default)."""
    if text is None or not text.strip():
        return None
    return [canonical_name(n.strip()) for n in text.split(",") if n.strip()]


def parse_assignments(text: str | None, what: str) -> dict[str, float]:
    """``"t=w,u=v"`` → ``{canonical(t): w, ...}`` with a clear error on bad syntax."""
    out: dict[str, float] = {}
    if text is None or not text.strip():
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, raw = item.partition("=")
        if not sep:
            raise input_error(what, item, "TASK=NUMBER pairs separated by commas, e.g. normal=2")
        try:
            value = float(raw)
        except ValueError:
            raise input_error(f"{what} for {name.strip()!r}", raw, "a number") from None
        if value < 0:
            raise input_error(f"{what} for {name.strip()!r}", value, "a number ≥ 0")
        out[canonical_name(name.strip())] = value
    return out


def parse_max_order(text: str | int | None) -> int | None:
    """An integer ≥ 1, or ``unlimited``/``all``/``none`` for no limit."""
    if text is None:
        return None
    if isinstance(text, int):
        value = text
    elif text.strip().lower() in ("unlimited", "all", "none", "inf"):
        return None
    else:
        try:
            value = int(text)
        except ValueError:
            raise input_error("max order", text, "an integer ≥ 1 or 'unlimited'") from None
    if value < 1:
        raise input_error("max order", value, "an integer ≥ 1 or 'unlimited'")
    return value


def find_winrates_for(affinity_path: str | os.PathLike[str]) -> WinRates | None:
    """Win rates stored beside an affinity file (a run directory or the 2018 layout)."""
    p = Path(affinity_path)
    beside = p.parent if p.suffix == ".csv" else p
    try:
        return load_winrates(beside)
    except TaskonomyError:
        return None


def plan(
    affinities: TransferTable,
    *,
    budget: float,
    max_order: int | None,
    targets: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    importance: Mapping[str, float] | None = None,
    label_cost: Mapping[str, float] | None = None,
    winrates: WinRates | None = None,
) -> Policy:
    """Solve the taxonomy BIP and attach Gain/Quality when win rates are known."""
    from taskonomy.taxonomy.bip import TaxonomyBIP

    if affinities.kind != "affinity":
        raise input_error("table kind for planning", affinities.kind, "'affinity'")
    if importance:
        tg = set(targets or affinities.targets())
        stray = sorted(set(importance) - tg)
        if stray:
            raise input_error("--importance", stray, f"targets only: {sorted(tg)}")
    bip = TaxonomyBIP(
        budget=budget,
        max_order=max_order,
        targets=targets,
        sources=sources,
        importance=importance,
        label_cost=label_cost,
    ).fit(affinities)
    policy = bip.policy_
    return attach_gain_quality(policy, *winrates) if winrates is not None else policy

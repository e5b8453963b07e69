"""The planning entry point of the CLI (`taskonomy solve`) and the solver page.

The BIP's policy (:func:`taskonomy.taxonomy.plan.plan`) with Gain/Quality attached from the
win rates found beside the affinity table (a run's ``tables/``, a packaged name such as
``taskonomy-2018``, or the 2018 pickle layout) or given explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from taskonomy.affinity.published import published_suffix, resolve_table_path
from taskonomy.affinity.table import TransferTable, check_plannable, read_table
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.gain_quality import WinRates, attach_gain_quality, load_winrates
from taskonomy.taxonomy.plan import plan as solve_bip
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import PlanRequest

__all__ = ["PlanRequest", "WinRates", "find_winrates_for", "load_table_and_winrates", "plan"]


def find_winrates_for(affinity_path: str | os.PathLike[str]) -> WinRates | None:
    """Win rates stored beside an affinity file (a run directory, a packaged name, 2018 layout)."""
    p = resolve_table_path(affinity_path)
    beside = p.parent if p.suffix == ".csv" else p
    try:
        return load_winrates(beside)
    except TaskonomyError:
        return None


def load_table_and_winrates(
    affinities: str | os.PathLike[str], winrates: str | os.PathLike[str] | None = None
) -> tuple[TransferTable, WinRates | None, Path]:
    """``(affinity table, win rates or None, resolved path)`` for a file or packaged name.

    Win rates come from ``winrates`` when given (with the 2018 file's suffix), else from
    beside the table; none found is not an error.
    """
    path = resolve_table_path(affinities)
    table = read_table(path)
    check_plannable(table, f"{path}: table kind")
    if winrates is not None:
        return table, load_winrates(winrates, published_suffix(path)), path
    return table, find_winrates_for(path), path


def plan(
    affinities: TransferTable | str | os.PathLike[str],
    request: PlanRequest | None = None,
    *,
    winrates: WinRates | Literal["auto"] | None = "auto",
    **fields: Any,
) -> Policy:
    """Solve the BIP and attach Gain/Quality when win rates are known.

    ``winrates="auto"`` looks beside ``affinities`` when it is a file or packaged name.
    """
    wr: WinRates | None = None
    if isinstance(affinities, TransferTable):
        table = affinities
        wr = None if winrates == "auto" else winrates
    else:
        table, found, _ = load_table_and_winrates(affinities)
        wr = found if winrates == "auto" else winrates
    policy = solve_bip(table, request, **fields)
    return attach_gain_quality(policy, *wr) if wr is not None else policy

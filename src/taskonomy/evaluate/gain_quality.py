"""Gain and Quality of a transfer policy (the paper's Section 5.1 and Figure 9).

For every target of a :class:`~taskonomy.taxonomy.policy.Policy`:

* **Gain** = the win rate of the chosen transfer against ``pixels`` (a small network
  trained from scratch on the same small split): does the transfer beat learning from
  the few labels alone?
* **Quality** = its win rate against ``self`` (the target's own network trained with full
  supervision on the large split): how close is the transfer to full supervision?

A target trained from scratch (``Choice.kind == "scratch"``, the ``self`` edge) *is* the
``self`` network, so its Quality is 0.5 by definition and its Gain is the win rate of
``Transfer(("self",), target)`` against ``pixels`` (present in the published files).

A transfer missing from a win-rate table gives ``None`` for that number, never an
error: the published files do not hold every transfer a solver might pick, and a
partial answer is more useful than none.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from taskonomy.affinity.published import find_published_winrates
from taskonomy.affinity.table import Transfer, TransferTable, read_table
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.rundir import WINS_VS_PIXELS_CSV, WINS_VS_SELF_CSV
from taskonomy.taxonomy.policy import Choice, Policy

#: Quality of a target trained from scratch: ``self`` against itself wins half the time.
SCRATCH_QUALITY = 0.5

Solver = Callable[[float, int | None], Policy]
WinRates = tuple[TransferTable, TransferTable]

_CSV_NAMES = (WINS_VS_PIXELS_CSV, WINS_VS_SELF_CSV)


def _check_kind(table: object, kind: str, arg: str) -> TransferTable:
    if not isinstance(table, TransferTable):
        raise input_error(
            arg, type(table).__name__, "a TransferTable", "Read it with read_table()."
        )
    if table.kind != kind:
        raise input_error(
            f"{arg} table kind",
            table.kind,
            repr(kind),
            "Pass the wins_vs_pixels table first and the wins_vs_self (wins_vs_task) one second.",
        )
    return table


def transfer_of(choice: Choice) -> Transfer:
    """The win-rate key of a choice: ``self → t`` for scratch, ``sources → t`` otherwise."""
    if choice.kind == "scratch":
        return Transfer(("self",), choice.target)
    return Transfer.of(choice.sources, choice.target)


def gain_quality_of(
    choice: Choice, wins_vs_pixels: TransferTable, wins_vs_self: TransferTable
) -> tuple[float | None, float | None]:
    """``(gain, quality)`` of one choice; ``None`` where the table lacks the transfer."""
    key = transfer_of(choice)
    gain = wins_vs_pixels.get(key)
    quality = SCRATCH_QUALITY if choice.kind == "scratch" else wins_vs_self.get(key)
    return gain, quality


def attach_gain_quality(
    policy: Policy, wins_vs_pixels: TransferTable, wins_vs_self: TransferTable
) -> Policy:
    """A copy of ``policy`` whose choices carry ``gain`` and ``quality``.

    ``wins_vs_pixels`` must be a ``"wins_vs_pixels"`` table and ``wins_vs_self`` a
    ``"wins_vs_self"`` one (the 2018 ``wins_vs_task*.pkl``). Transfers missing from a
    table get ``None``; a scratch target's Quality is always 0.5. The input is unchanged.
    """
    if not isinstance(policy, Policy):
        raise input_error("policy", type(policy).__name__, "a taskonomy Policy")
    pix = _check_kind(wins_vs_pixels, "wins_vs_pixels", "wins_vs_pixels")
    slf = _check_kind(wins_vs_self, "wins_vs_self", "wins_vs_self")
    choices: dict[str, Choice] = {}
    for target, choice in policy.choices.items():
        gain, quality = gain_quality_of(choice, pix, slf)
        choices[target] = replace(choice, gain=gain, quality=quality)
    return replace(policy, choices=choices, extra=dict(policy.extra))


def mean_gain_quality(policy: Policy) -> tuple[float | None, float | None]:
    """Mean Gain and mean Quality over the targets that have them (``None`` if none do)."""

    def mean(values: Iterable[float | None]) -> float | None:
        known = [v for v in values if v is not None and math.isfinite(v)]
        return sum(known) / len(known) if known else None

    cs = policy.choices.values()
    return mean(c.gain for c in cs), mean(c.quality for c in cs)


# ---- reading win rates -------------------------------------------------------------


def _published_suffixes(folder: Path) -> list[str]:
    """Suffixes ``S`` for which ``wins_vs_pixels{S}.pkl`` exists in ``folder``."""
    return sorted(
        p.name[len("wins_vs_pixels") : -len(".pkl")] for p in folder.glob("wins_vs_pixels*.pkl")
    )


def load_winrates(path_or_dir: str | os.PathLike[str], suffix: str = "") -> WinRates:
    """Read ``(wins_vs_pixels, wins_vs_self)`` tables from a folder.

    Accepted layouts, tried in this order:

    1. the project's CSVs ``wins_vs_pixels.csv`` + ``wins_vs_self.csv`` (only when
       ``suffix`` is empty);
    2. the 2018 layout ``wins_vs_pixels{suffix}.pkl`` + ``wins_vs_task{suffix}.pkl``, e.g.
       ``suffix="_16k"``; the folder may be ``winrates/`` itself or the results folder
       that holds it;
    3. a path to a 2018 ``all_affinities{suffix}.pkl`` file: the win rates beside it
       (``../winrates/``), with its suffix.

    Anything else raises :class:`TaskonomyError` naming what was looked for.
    """
    p = Path(path_or_dir)
    if p.is_file():
        found = find_published_winrates(p)
        if found is None:
            raise input_error(
                "win-rate location",
                str(p),
                "a folder with win-rate tables, or a 2018 all_affinities*.pkl with "
                "winrates/ beside it",
                "Pass the folder holding wins_vs_pixels/wins_vs_self (or wins_vs_task) files.",
            )
        return read_table(found[0], "wins_vs_pixels"), read_table(found[1], "wins_vs_self")
    if not p.is_dir():
        raise input_error("win-rate folder", str(p), "an existing folder", "Check the path.")

    if not suffix:
        csvs = [p / n for n in _CSV_NAMES]
        if all(c.is_file() for c in csvs):
            return read_table(csvs[0], "wins_vs_pixels"), read_table(csvs[1], "wins_vs_self")
        if any(c.is_file() for c in csvs):
            missing = next(c.name for c in csvs if not c.is_file())
            raise input_error(
                f"{p}: win-rate CSVs",
                f"{missing} missing",
                "both wins_vs_pixels.csv and wins_vs_self.csv",
                "Write both tables with the pipeline.",
            )

    for folder in (p, p / "winrates"):
        pix = folder / f"wins_vs_pixels{suffix}.pkl"
        task = folder / f"wins_vs_task{suffix}.pkl"
        if pix.is_file() and task.is_file():
            return read_table(pix, "wins_vs_pixels"), read_table(task, "wins_vs_self")

    available = _published_suffixes(p) + _published_suffixes(p / "winrates")
    hint = (
        f"Published suffixes here: {', '.join(repr(s) for s in available)}."
        if available
        else "Point at a folder holding the project's CSVs or the 2018 winrates/ pickles."
    )
    raise input_error(
        f"{p}: win-rate files",
        f"nothing matching suffix {suffix!r}",
        f"wins_vs_pixels.csv + wins_vs_self.csv, or wins_vs_pixels{suffix}.pkl + "
        f"wins_vs_task{suffix}.pkl",
        hint,
    )


# ---- budget sweeps (Figure 9) ------------------------------------------------------


def budget_sweep(
    solver: Solver | None,
    budgets: Sequence[float],
    orders: Sequence[int | None],
    *,
    table: TransferTable | None = None,
    winrates: WinRates | None = None,
    **solver_kw: Any,
) -> list[Policy]:
    """Solve once per ``(order, budget)``; policies ordered by order, then budget.

    ``solver(budget, max_order) -> Policy`` is any planner. With ``solver=None`` the
    project's BIP (``taskonomy.taxonomy.bip.solve``) is used on ``table`` with
    ``solver_kw`` (imported only then, so this module does not need it). With
    ``winrates=(wins_vs_pixels, wins_vs_self)`` every policy gets Gain/Quality attached.
    A solver error (e.g. an infeasible budget) propagates.
    """
    run: Solver
    if solver is None:
        if table is None:
            raise input_error(
                "budget_sweep",
                "solver=None and table=None",
                "a solver callable or a table",
                "Pass table= to use the BIP, or your own solver(budget, max_order).",
            )
        from taskonomy.taxonomy.bip import solve  # lazy: the planner is optional here

        bip_table = table

        def bip(budget: float, max_order: int | None) -> Policy:
            return solve(bip_table, budget, max_order, **solver_kw)

        run = bip

    elif solver_kw or table is not None:
        raise input_error(
            "budget_sweep",
            "table/solver keywords together with a solver",
            "them only with solver=None",
            "Bind them into your solver callable instead.",
        )
    else:
        run = solver
    if not budgets or not orders:
        raise input_error(
            "budget_sweep", f"{len(budgets)} budgets, {len(orders)} orders", "at least one of each"
        )
    out: list[Policy] = []
    for order in orders:
        for budget in budgets:
            policy = run(budget, order)
            if not isinstance(policy, Policy):
                raise TaskonomyError(
                    f"solver({budget!r}, {order!r}) returned {type(policy).__name__}; "
                    "expected a taskonomy Policy."
                )
            if winrates is not None:
                policy = attach_gain_quality(policy, *winrates)
            out.append(policy)
    return out


def group_by_order(policies: Iterable[Policy]) -> dict[int | None, list[Policy]]:
    """``{max_order: policies sorted by budget}``: the input of ``gain_quality_curves``."""
    groups: dict[int | None, list[Policy]] = {}
    for p in policies:
        groups.setdefault(p.max_order, []).append(p)
    return {k: sorted(v, key=lambda p: p.budget) for k, v in groups.items()}

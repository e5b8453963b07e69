"""One planning code path for the CLI (`taskonomy solve`) and the solver page.

Parses the user's choices, loads tables, solves the BIP and attaches Gain/Quality.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from taskonomy.affinity.table import TransferTable, read_table
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.taxonomy.policy import Policy
from taskonomy.tasks import canonical_name


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


@dataclass(frozen=True)
class WinRates:
    vs_pixels: TransferTable  # Gain
    vs_self: TransferTable  # Quality


def load_winrates(path: str | os.PathLike[str], suffix: str = "") -> WinRates:
    """Win rates from a folder: the project's CSVs or the 2018 pickles (with ``suffix``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise input_error("win-rate folder", str(folder), "an existing directory")
    candidates = [
        (folder / "wins_vs_pixels.csv", folder / "wins_vs_self.csv"),
        (folder / f"wins_vs_pixels{suffix}.pkl", folder / f"wins_vs_task{suffix}.pkl"),
    ]
    for pix, task in candidates:
        if pix.is_file() and task.is_file():
            return WinRates(read_table(pix, "wins_vs_pixels"), read_table(task, "wins_vs_self"))
    raise input_error(
        "win-rate folder contents",
        str(folder),
        "wins_vs_pixels.csv + wins_vs_self.csv, or the 2018 "
        f"wins_vs_pixels{suffix}.pkl + wins_vs_task{suffix}.pkl",
    )


def find_winrates_for(affinity_path: str | os.PathLike[str]) -> WinRates | None:
    """Win rates stored beside an affinity file (a run directory or the 2018 layout)."""
    from taskonomy.taxonomy.published import find_published_winrates

    p = Path(affinity_path)
    if p.suffix == ".csv":
        pix, task = p.parent / "wins_vs_pixels.csv", p.parent / "wins_vs_self.csv"
        if pix.is_file() and task.is_file():
            return WinRates(read_table(pix, "wins_vs_pixels"), read_table(task, "wins_vs_self"))
        return None
    found = find_published_winrates(p)
    if found is None:
        return None
    return WinRates(read_table(found[0], "wins_vs_pixels"), read_table(found[1], "wins_vs_self"))


def attach_gain_quality(policy: Policy, winrates: WinRates) -> Policy:
    """Fill Gain (win rate vs ``pixels``) and Quality (vs ``self``) of each chosen transfer.

    A scratch-trained target's Quality is 0.5 by definition; its Gain is the ``self``
    edge's win rate vs ``pixels``. Missing entries stay ``None``.
    """
    from dataclasses import replace

    choices = {}
    for target, c in policy.choices.items():
        srcs = ["self"] if c.kind == "scratch" else list(c.sources)
        gain = winrates.vs_pixels.value(srcs, target)
        quality = 0.5 if c.kind == "scratch" else winrates.vs_self.value(srcs, target)
        choices[target] = replace(c, gain=gain, quality=quality)
    return replace(policy, choices=choices)


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
            raise TaskonomyError(f"importance given for non-targets {stray}; targets are {sorted(tg)}.")
    bip = TaxonomyBIP(
        budget=budget,
        max_order=max_order,
        targets=targets,
        sources=sources,
        importance=importance,
        label_cost=label_cost,
    ).fit(affinities)
    policy = bip.policy_
    return attach_gain_quality(policy, winrates) if winrates is not None else policy

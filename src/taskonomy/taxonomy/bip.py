"""The supervision-budget Binary Integer Program (BIP) of Taskonomy, solved exactly with HiGHS.

The paper's program (Zamir et al. 2018, Section 3.4), for targets ``T``, sources ``S``,
candidate transfers ``e = (sources(e) → target(e))`` with affinity ``p_e``, importance
``r_t`` and label cost ``c_s``::

    maximize    Σ_e r_target(e) · p_e · x_e
    subject to  k_e · x_e ≤ Σ_{s ∈ e} y_s  for every transfer e of order k_e  (needs its sources)
                Σ_{e into t} x_e = 1      for every target t             (one incoming transfer)
                Σ_s c_s · y_s ≤ budget                                   (supervision budget)
                x, y binary

``y_s = 1`` means "train s from scratch" (collect its labels). Full supervision of ``t`` is the
edge ``self → t`` and needs ``y_t``. Modelling choices, on top of the paper's text:

* ``random`` (an untrained encoder) needs no labels: it costs nothing, so a transfer
  ``random + s → t`` needs only ``s`` trained, and ``random → t`` needs nothing. It is in the
  default sources; a ``sources`` list the user gives is respected (list ``random`` to allow it).
  Outside encoders (``ext:<name>``, a run's ``sources``) are free the same way: already
  available, never trained (decided here, :func:`taskonomy.tasks.is_free_source`).
* ``pixels`` is a baseline for Gain, never a candidate source.
* A task outside ``sources`` has no network: it cannot be a source and, as a target, has no
  ``self`` edge. Default ``sources``: every task used as a source in the table plus every
  target with a ``self`` entry (its own network is a source for itself).
* ``max_order`` counts every source of a transfer, ``random`` included (the table's order).
* The answer depends only on the trained set ``Y``: each target then takes its best available
  transfer. Ties go to ``self``, then to the lower order, then to the sorted source names.
  ``scratch_`` lists the tasks the chosen transfers use (a task that would use spare budget
  without serving anyone is not listed).

Formulations (``formulation=``; all exact, they differ in speed only; measured side by side
in ``benchmarks/bench_bip.py``):

* ``"paper"``: the paper's aggregated row per transfer above, ``x`` binary, HiGHS defaults.
  Correct, but its LP relaxation is weak (x_e = 1/k with one of k sources trained).
* ``"edge"``: one row ``x_e ≤ y_s`` per (transfer, source); ``x`` binary, HiGHS defaults.
* ``"target"``: one row ``Σ_{e into t, s ∈ e} x_e ≤ y_s`` per (target, source); ``x`` binary,
  HiGHS defaults. Valid because each target takes exactly one transfer; it implies the
  ``edge`` rows and its relaxation is much tighter.
* ``"reduced"`` (default, fastest): the ``target`` rows after provably safe reductions, plus:

  - a transfer is dropped when a better-or-equal (by the tie order above) transfer into the
    same target needs a subset of its tasks (whenever it is available, so is the other), or
    when its tasks alone cost more than the budget; a target left with one transfer that
    needs nothing paid for is a constant and leaves the model;
  - ``x`` is continuous: once ``y`` is integral, each target's rows reduce to choosing a
    point of a simplex over its available transfers, optimal at a vertex (one transfer); the
    answer is re-derived from the trained set anyway;
  - the LP relaxation is solved first; when its optimum has integral ``y``, that trained set
    scores the LP bound and is optimal (most budget sweeps on the published data end here);
  - otherwise HiGHS's MIP with :data:`TUNED_OPTIONS`.
* ``"reduced-mip"``: ``reduced`` without the LP-first step; ``"reduced-edge"``: ``reduced``
  with the ``edge`` rows.

Every solve is run with ``mip_rel_gap = 0`` and a 1e-9 absolute gap on an objective scaled to
a largest coefficient of 1, and must end "Optimal"; a time limit raises with the gap.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import highspy
import numpy as np

from taskonomy.affinity.table import Transfer, TransferTable, check_plannable
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.tasks import PIXELS, SELF, canonical_name, is_free_source
from taskonomy.taxonomy.policy import Choice, Policy

RANDOM = "random"

Rows = Literal["aggregated", "edge", "target"]


@dataclass(frozen=True)
class _Formulation:
    rows: Rows
    x_integer: bool
    reduce: bool
    lp_first: bool = False  # try the LP relaxation first; an integral optimum is the answer
    options: tuple[tuple[str, Any], ...] = ()  # HiGHS options


# HiGHS options measured fastest on this problem (benchmarks/bench_bip.py, one ablation each).
# Presolve finds nothing to remove and only costs time; most of the root time went to strong
# branching (pseudo-costs are reliable enough at once) and to the RINS/RENS sub-MIPs, which
# rarely improve the incumbent here; parallel simplex only competes for the cores.
TUNED_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("presolve", "off"),
    ("mip_heuristic_run_rins", False),
    ("mip_heuristic_run_rens", False),
    ("mip_pscost_minreliable", 0),
    ("parallel", "off"),
)
# HiGHS's own defaults for the same options, for comparisons.
HIGHS_DEFAULTS: dict[str, Any] = {
    "presolve": "choose",
    "mip_heuristic_run_rins": True,
    "mip_heuristic_run_rens": True,
    "mip_pscost_minreliable": 8,
    "parallel": "choose",
}

FORMULATIONS: dict[str, _Formulation] = {
    "reduced": _Formulation("target", False, reduce=True, lp_first=True, options=TUNED_OPTIONS),
    "reduced-mip": _Formulation("target", False, reduce=True, options=TUNED_OPTIONS),
    "reduced-edge": _Formulation("edge", False, reduce=True, lp_first=True, options=TUNED_OPTIONS),
    # the untuned baselines: binary x, every candidate, HiGHS defaults
    "target": _Formulation("target", x_integer=True, reduce=False),
    "edge": _Formulation("edge", x_integer=True, reduce=False),
    "paper": _Formulation("aggregated", x_integer=True, reduce=False),
}
DEFAULT_FORMULATION = "reduced"

# Objective values are sums of affinities (each target's sum to 1), so absolute 1e-9 is far
# below any meaningful difference while leaving HiGHS a tolerance it can actually certify.
_ABS_GAP = 1e-9
_COST_TOL = 1e-9


# ---- HiGHS plumbing ------------------------------------------------------------------------
_BANNER_LOCK = threading.Lock()
_banner_printed = False


@contextlib.contextmanager
def _stdout_fd_silenced() -> Iterator[None]:
    """Send C-level stdout to /dev/null (HiGHS prints its banner before options can be set)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no usable fd 1: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance (the version banner is printed once per process, on creation)."""
    global _banner_printed
    with _BANNER_LOCK:
        if _banner_printed:
            h = highspy.Highs()
        else:
            with _stdout_fd_silenced():
                h = highspy.Highs()
            _banner_printed = True
    h.setOptionValue("output_flag", False)
    return h


class _Rows:
    """Sparse constraint rows gathered as COO blocks, with their bounds."""

    def __init__(self) -> None:
        self.n = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []

    def add_block(
        self,
        row: np.ndarray,  # (nnz,) row index within the block
        col: np.ndarray,  # (nnz,)
        val: np.ndarray,  # (nnz,)
        n_rows: int,
        lo: float,
        hi: float,
    ) -> None:
        self._r.append(np.asarray(row, dtype=np.int64) + self.n)
        self._c.append(np.asarray(col, dtype=np.int64))
        self._v.append(np.asarray(val, dtype=np.float64))
        self._lo.append(np.full(n_rows, lo))
        self._hi.append(np.full(n_rows, hi))
        self.n += n_rows

    def add(self, row: np.ndarray, col: np.ndarray, val: np.ndarray, lo: float, hi: float) -> None:
        n_rows = int(row.max()) + 1 if len(row) else 0
        self.add_block(row, col, val, n_rows, lo, hi)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(start (n+1,), index (nnz,), value (nnz,), lower (n,), upper (n,))."""
        if not self._r:
            e = np.zeros(0)
            return np.zeros(1, dtype=np.int32), e.astype(np.int32), e, e, e
        r = np.concatenate(self._r)
        order = np.argsort(r, kind="stable")
        start = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=self.n), out=start[1:])
        return (
            start.astype(np.int32),
            np.concatenate(self._c)[order].astype(np.int32),
            np.concatenate(self._v)[order],
            np.concatenate(self._lo),
            np.concatenate(self._hi),
        )


def _check_options(options: Mapping[str, Any], h: highspy.Highs | None = None) -> None:
    """Set ``options`` on ``h`` (a scratch instance by default), raising on a bad one."""
    h = _new_highs() if h is None else h
    for key, val in options.items():
        if h.setOptionValue(key, val) != highspy.HighsStatus.kOk:
            raise input_error("HiGHS option", f"{key}={val!r}", "a valid HiGHS option and value")


@dataclass
class _MipResult:
    status: str
    x: np.ndarray  # (n_cols,)
    objective: float
    bound: float
    gap: float
    nodes: int
    seconds: float
    has_solution: bool


def _solve_mip(
    cost: np.ndarray,  # (n_col,) objective coefficients; every column is in [0, 1]
    integer: np.ndarray,  # (n_col,) bool
    rows: _Rows,
    maximize: bool,
    time_limit: float | None,
    options: Mapping[str, Any],
) -> _MipResult:
    n_col = len(cost)
    a_start, a_index, a_value, row_lo, row_hi = rows.csr()
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = rows.n
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.ones(n_col)
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = rows.n
    lp.a_matrix_.start_ = a_start
    lp.a_matrix_.index_ = a_index
    lp.a_matrix_.value_ = a_value
    kint, kcont = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [kint if b else kcont for b in integer]
    h = _new_highs()
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", _ABS_GAP)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    _check_options(options, h)
    if h.passModel(lp) != highspy.HighsStatus.kOk:
        raise TaskonomyError("internal error: HiGHS refused the BIP model; please report it.")
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    return _MipResult(
        status=h.modelStatusToString(h.getModelStatus()),
        x=np.asarray(h.getSolution().col_value, dtype=np.float64),
        objective=float(info.objective_function_value),
        bound=float(info.mip_dual_bound),
        gap=float(info.mip_gap),
        nodes=int(info.mip_node_count),
        seconds=seconds,
        has_solution=int(info.primal_solution_status) == int(highspy.kSolutionStatusFeasible),
    )


# ---- the instance ------------------------------------------------------------------------
@dataclass(frozen=True)
class _TargetEntries:
    """One target's table entries, sorted best first (the tie order of the module docstring)."""

    transfers: list[Transfer]  # (n,)
    affinity: np.ndarray  # (n,)
    order: np.ndarray  # (n,) int
    is_self: np.ndarray  # (n,) bool
    usable: np.ndarray  # (n,) bool; False when `pixels`/`self` is one of several sources
    mask: np.ndarray  # (n,) uint64 bitmask of the sources over the table's universe


@dataclass(frozen=True)
class _TableIndex:
    """Everything about a table that does not depend on the BIP's parameters."""

    universe: tuple[str, ...]  # every task the table names (``random`` included)
    index: dict[str, int]
    targets: list[str]  # first-seen order
    sources: list[str]  # TransferTable.sources() (``random`` included)
    has_self: set[str]
    entries: dict[str, _TargetEntries]


_INDEX_LOCK = threading.Lock()
_INDEX_CACHE: dict[int, tuple[weakref.ref[TransferTable], _TableIndex]] = {}


def _table_index(table: TransferTable) -> _TableIndex:
    """Index a table once; tables are immutable, so repeated solves (budget sweeps) reuse it."""
    key = id(table)
    with _INDEX_LOCK:
        hit = _INDEX_CACHE.get(key)
        if hit is not None and hit[0]() is table:
            return hit[1]
    idx = _build_index(table)
    try:
        ref = weakref.ref(table)
    except TypeError:  # a subclass without weak references: just do not cache
        return idx
    with _INDEX_LOCK:
        _INDEX_CACHE[key] = (ref, idx)
    weakref.finalize(table, _INDEX_CACHE.pop, key, None)
    return idx


def _build_index(table: TransferTable) -> _TableIndex:
    by_target: dict[str, list[tuple[Transfer, float]]] = {}
    names: dict[str, None] = {}
    for tr, val in table.items():
        by_target.setdefault(tr.target, []).append((tr, val))
        names[tr.target] = None
        for s in tr.sources:
            if s not in (SELF, PIXELS):
                names[s] = None
    universe = tuple(sorted(names))
    if len(universe) > 64:
        raise input_error("number of tasks in the table", len(universe), "at most 64")
    index = {n: i for i, n in enumerate(universe)}
    entries: dict[str, _TargetEntries] = {}
    for t, items in by_target.items():
        # best first: higher affinity, then self, then lower order, then names
        items.sort(key=lambda it: (-it[1], not it[0].is_self, it[0].order, it[0].sources))
        masks = np.zeros(len(items), dtype=np.uint64)
        usable = np.ones(len(items), dtype=bool)
        for i, (tr, _) in enumerate(items):
            if tr.is_self:
                continue
            bits = 0
            for s in tr.sources:
                if s in (SELF, PIXELS):
                    usable[i] = False
                else:
                    bits |= 1 << index[s]
            masks[i] = bits
        entries[t] = _TargetEntries(
            transfers=[tr for tr, _ in items],
            affinity=np.array([v for _, v in items], dtype=np.float64),
            order=np.array([tr.order for tr, _ in items], dtype=np.int64),
            is_self=np.array([tr.is_self for tr, _ in items], dtype=bool),
            usable=usable,
            mask=masks,
        )
    return _TableIndex(
        universe=universe,
        index=index,
        targets=list(by_target),
        sources=table.sources(),
        has_self={tr.target for tr in table if tr.is_self},
        entries=entries,
    )


def _bits_of(mask: np.ndarray, n: int) -> np.ndarray:
    """(m, n) bool matrix of a (m,) uint64 bitmask array."""
    shifts = np.arange(n, dtype=np.uint64)  # (n,)
    return ((mask[:, None] >> shifts[None, :]) & np.uint64(1)).astype(bool)


@dataclass
class _Instance:
    """Targets and candidate transfers, sorted best first within each target.

    Task indices refer to ``universe`` (every task the table names); a candidate's ``mask``
    holds the tasks it needs trained (``random`` is never in it).
    """

    targets: list[str]
    universe: tuple[str, ...]
    cost: np.ndarray  # (U,) label cost per task (0 for random)
    importance: np.ndarray  # (n_targets,)
    entries: list[_TargetEntries]  # (n_targets,)
    pos: np.ndarray  # (m,) position of each candidate in its target's entries
    mask: np.ndarray  # (m,) uint64 tasks each candidate needs trained
    bits: np.ndarray  # (m, U) bool, the same as a matrix
    req_cost: np.ndarray  # (m,) label cost of those tasks
    affinity: np.ndarray  # (m,)
    target_of: np.ndarray  # (m,) target index
    offsets: np.ndarray  # (n_targets + 1,) candidate slice of each target

    def transfer(self, c: int) -> Transfer:
        return self.entries[int(self.target_of[c])].transfers[int(self.pos[c])]

    def choose(self, trained: np.ndarray) -> np.ndarray:
        """(n_targets,) each target's best candidate available with the (U,) bool trained set."""
        have = np.uint64(0)
        for s in np.flatnonzero(trained):
            have |= np.uint64(1) << np.uint64(s)
        avail = np.flatnonzero((self.mask & ~have) == 0)  # (k,) sorted candidate indices
        if len(avail):
            pos = np.searchsorted(avail, self.offsets[:-1])  # (n_targets,)
            first = avail[np.minimum(pos, len(avail) - 1)]  # (n_targets,)
            if np.all((first >= self.offsets[:-1]) & (first < self.offsets[1:])):
                return first
        raise TaskonomyError("internal error: a target has no available transfer.")


def _check_budget(budget: object) -> float:
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.integer | np.floating):
        raise input_error("budget", budget, "a number ≥ 0 (total label cost of trained tasks)")
    b = float(budget)
    if not math.isfinite(b) or b < 0:
        raise input_error(
            "budget", budget, "a finite number ≥ 0", "The budget is a total label cost."
        )
    return b


def _check_max_order(max_order: object) -> int | None:
    if max_order is None:
        return None
    if isinstance(max_order, bool) or not isinstance(max_order, int | np.integer):
        raise input_error("max_order", max_order, "an integer ≥ 1 or None (unlimited)")
    if int(max_order) < 1:
        raise input_error("max_order", max_order, "an integer ≥ 1 or None (unlimited)")
    return int(max_order)


def _task(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise input_error(what, name, "a task name (str)")
    canon = canonical_name(name)
    if canon in (SELF, PIXELS):
        raise input_error(
            what, name, "a task name", f"{canon!r} is a baseline, not a task with its own network."
        )
    return canon


def _weights(
    given: Mapping[str, float] | None, what: str, allowed: Sequence[str] | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    if given is None:
        return out
    if not isinstance(given, Mapping):
        raise input_error(what, type(given).__name__, "a mapping task name → number ≥ 0")
    for key, val in given.items():
        name = _task(key, f"{what} key")
        if allowed is not None and name not in allowed:
            raise input_error(
                f"{what} key", key, one_of(allowed), f"{what} is given per target only."
            )
        if isinstance(val, bool) or not isinstance(val, int | float | np.integer | np.floating):
            raise input_error(f"{what} of {name!r}", val, "a finite number ≥ 0")
        v = float(val)
        if not math.isfinite(v) or v < 0:
            raise input_error(f"{what} of {name!r}", val, "a finite number ≥ 0")
        out[name] = v
    return out


def _fmt_set(names: Iterable[str], limit: int = 8) -> str:
    items = sorted(names)
    shown = ", ".join(items[:limit])
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    return "{" + shown + more + "}"


def _names(given: Sequence[str], what: str) -> list[str]:
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise input_error(f"{what}s", given, "a sequence of task names (not one string)")
    return list(dict.fromkeys(_task(n, what) for n in given))


def _prepare(
    table: TransferTable,
    targets: Sequence[str] | None,
    sources: Sequence[str] | None,
    importance: Mapping[str, float] | None,
    label_cost: Mapping[str, float] | None,
    max_order: int | None,
) -> _Instance:
    if not isinstance(table, TransferTable):
        raise input_error("table", type(table).__name__, "a taskonomy.affinity.TransferTable")
    check_plannable(table)
    if len(table) == 0:
        raise input_error("table", "an empty table", "at least one transfer")
    ti = _table_index(table)

    if targets is None:
        tg = list(ti.targets)
    else:
        tg = _names(targets, "target")
        if not tg:
            raise input_error("targets", list(targets), "at least one target")
        for t in tg:
            if t not in ti.entries:
                raise input_error(
                    "target",
                    t,
                    one_of(ti.targets),
                    "The table has no transfer into it; pick targets the table covers.",
                )
    src_set = set(ti.sources) | ti.has_self if sources is None else set(_names(sources, "source"))
    # Free sources (random, outside encoders) are never trained: usable always by default,
    # only when listed otherwise.
    random_ok = sources is None or RANDOM in src_set
    free_ok = {u for u in ti.universe if is_free_source(u) and (sources is None or u in src_set)}
    src_set -= {u for u in src_set if is_free_source(u)}

    imp = _weights(importance, "importance", tg)
    costs = _weights(label_cost, "label_cost", None)
    for u, c in costs.items():
        if is_free_source(u) and c != 0.0:
            raise input_error(
                f"label_cost of {u!r}",
                c,
                "0 (or absent)",
                f"{u!r} is {'an untrained' if u == RANDOM else 'an outside'} encoder and needs "
                "no labels.",
            )
    n_u = len(ti.universe)
    cost = np.array(
        [0.0 if is_free_source(u) else costs.get(u, 1.0) for u in ti.universe], dtype=np.float64
    )
    # Free sources leave every transfer's requirement mask: using them costs nothing.
    free_bits = np.uint64(sum(1 << ti.index[u] for u in ti.universe if is_free_source(u)))
    allowed = sum(1 << ti.index[u] for u in free_ok)
    for s in src_set:
        if s in ti.index:
            allowed |= 1 << ti.index[s]
    not_allowed = np.uint64(~allowed & ((1 << 64) - 1))

    entries: list[_TargetEntries] = []
    pos_parts: list[np.ndarray] = []
    mask_parts: list[np.ndarray] = []
    offsets = [0]
    for t in tg:
        e = ti.entries[t]
        sel = e.usable & ~e.is_self & ((e.mask & not_allowed) == 0)  # (n,)
        if max_order is not None:
            sel &= e.order <= max_order
        if t in src_set:
            sel |= e.is_self
        pos = np.flatnonzero(sel)  # (k,) still best first
        if len(pos) == 0:
            raise _no_candidate_error(t, e, src_set | free_ok, max_order, random_ok)
        own = np.uint64(1 << ti.index[t])
        mask = np.where(e.is_self[pos], own, e.mask[pos] & ~free_bits)  # (k,)
        entries.append(e)
        pos_parts.append(pos)
        mask_parts.append(mask.astype(np.uint64))
        offsets.append(offsets[-1] + len(pos))

    pos_all = np.concatenate(pos_parts)  # (m,)
    mask_all = np.concatenate(mask_parts)  # (m,)
    target_of = np.repeat(np.arange(len(tg)), np.diff(offsets))  # (m,)
    bits = _bits_of(mask_all, n_u)  # (m, U)
    affinity = np.concatenate([entries[i].affinity[p] for i, p in enumerate(pos_parts)])
    return _Instance(
        targets=tg,
        universe=ti.universe,
        cost=cost,
        importance=np.array([imp.get(t, 1.0) for t in tg], dtype=np.float64),
        entries=entries,
        pos=pos_all,
        mask=mask_all,
        bits=bits,
        req_cost=bits @ cost,
        affinity=affinity,
        target_of=target_of,
        offsets=np.array(offsets, dtype=np.int64),
    )


def _no_candidate_error(
    t: str, e: _TargetEntries, src_set: set[str], max_order: int | None, random_ok: bool = True
) -> TaskonomyError:
    if t not in src_set:
        why_self = "it is not in sources, so it cannot be trained from scratch"
    else:
        why_self = "the table has no `self` entry for it, so full supervision is not an option"
    others = [
        tr for tr, ok, me in zip(e.transfers, e.usable, e.is_self, strict=True) if ok and not me
    ]
    too_high = [tr for tr in others if max_order is not None and tr.order > max_order]
    usable = src_set | {RANDOM} if random_ok else src_set
    missing = {s for tr in others for s in tr.sources if s not in usable}
    order_txt = "any order" if max_order is None else f"order ≤ {max_order}"
    msg = (
        f"target {t!r} has no candidate transfer: {why_self}, and no transfer of {order_txt} "
        f"from sources {_fmt_set(usable)} is in the table "
        f"({len(others)} transfers into it: {len(too_high)} exceed max_order"
    )
    if missing:
        msg += f"; the others need a source outside `sources`, e.g. {_fmt_set(missing, 5)}"
    msg += ")."
    return TaskonomyError(
        msg + " Add it (or its sources) to `sources`, raise `max_order`, or drop it from `targets`."
    )


def _reduce(inst: _Instance, budget: float | None) -> np.ndarray:
    """Bool (m,) mask of candidates worth modelling.

    Candidate j is dropped when an earlier (better-or-equal by the tie order) candidate i into
    the same target needs a subset of j's tasks: whenever j is available so is i, and i wins.
    With a ``budget`` it is also dropped when its own tasks cost more than the budget. With
    ``budget=None`` only the source sets matter (for the minimum budget): j is dropped when
    any other candidate needs a strict subset, or the same set and comes first.
    """
    m = len(inst.mask)
    keep = np.ones(m, dtype=bool) if budget is None else inst.req_cost <= budget + _COST_TOL
    for t in range(len(inst.targets)):
        lo, hi = int(inst.offsets[t]), int(inst.offsets[t + 1])
        idx = lo + np.flatnonzero(keep[lo:hi])  # (k,) surviving so far, best first
        msk = inst.mask[idx]  # (k,)
        subset = (msk[:, None] & ~msk[None, :]) == 0  # (k, k): req(i) ⊆ req(j)
        if budget is None:
            equal = subset & subset.T
            dominated = (subset & ~equal).any(axis=0) | np.triu(equal, k=1).any(axis=0)
        else:
            dominated = np.triu(subset, k=1).any(axis=0)  # (k,) an earlier i covers j
        keep[idx[dominated]] = False
    return keep


@dataclass
class _Model:
    cand: np.ndarray  # (n_x,) candidate of each x column
    used: np.ndarray  # (n_y,) task of each y column
    cost: np.ndarray  # (n_col,)
    integer: np.ndarray  # (n_col,) bool
    rows: _Rows


def _build_model(
    inst: _Instance, cand: np.ndarray, rows_kind: Rows, x_integer: bool, budget: float | None
) -> _Model:
    """The BIP over candidates ``cand``; ``budget=None`` builds the minimum-cost problem."""
    sub_bits = inst.bits[cand]  # (n_x, U)
    used = np.flatnonzero(sub_bits.any(axis=0))  # (n_y,)
    n_y, n_x = len(used), len(cand)
    y_col = np.full(len(inst.universe), -1, dtype=np.int64)
    y_col[used] = np.arange(n_y)
    xk, su = np.nonzero(sub_bits)  # (nnz,) pairs (x column, task) with the task needed
    tgt = inst.target_of[cand]  # (n_x,)
    x_cols = n_y + np.arange(n_x)

    r = _Rows()
    # each modelled target takes exactly one transfer
    _, tgt_row = np.unique(tgt, return_inverse=True)
    r.add(tgt_row, x_cols, np.ones(n_x), lo=1.0, hi=1.0)
    if rows_kind == "target":
        keys, row = np.unique(tgt[xk] * len(inst.universe) + su, return_inverse=True)
        ku = keys % len(inst.universe)  # (n_rows,) task of each row
        r.add_block(
            np.concatenate([row, np.arange(len(keys))]),
            np.concatenate([x_cols[xk], y_col[ku]]),
            np.concatenate([np.ones(len(xk)), -np.ones(len(keys))]),
            n_rows=len(keys),
            lo=-math.inf,
            hi=0.0,
        )
    elif rows_kind == "edge":
        pair = np.arange(len(xk))
        r.add_block(
            np.concatenate([pair, pair]),
            np.concatenate([x_cols[xk], y_col[su]]),
            np.concatenate([np.ones(len(xk)), -np.ones(len(xk))]),
            n_rows=len(xk),
            lo=-math.inf,
            hi=0.0,
        )
    else:  # the paper's aggregated row: |req(e)|·x_e ≤ Σ_{s ∈ req(e)} y_s
        k = sub_bits.sum(axis=1).astype(np.float64)  # (n_x,)
        has = np.flatnonzero(k > 0)
        row_of = np.full(n_x, -1, dtype=np.int64)
        row_of[has] = np.arange(len(has))
        r.add_block(
            np.concatenate([row_of[has], row_of[xk]]),
            np.concatenate([x_cols[has], y_col[su]]),
            np.concatenate([k[has], -np.ones(len(xk))]),
            n_rows=len(has),
            lo=-math.inf,
            hi=0.0,
        )
    cost = np.zeros(n_y + n_x)
    if budget is None:
        cost[:n_y] = inst.cost[used]
    else:
        cost[n_y:] = inst.importance[tgt] * inst.affinity[cand]
        r.add(
            np.zeros(n_y, dtype=np.int64), np.arange(n_y), inst.cost[used], lo=-math.inf, hi=budget
        )
    integer = np.zeros(n_y + n_x, dtype=bool)
    integer[:n_y] = True
    integer[n_y:] = x_integer
    return _Model(cand=cand, used=used, cost=cost, integer=integer, rows=r)


def _greedy_cover(inst: _Instance) -> float:
    """Label cost of a quick feasible trained set (an upper bound on the minimum budget)."""
    trained = np.zeros(len(inst.universe), dtype=bool)
    total = 0.0
    for t in range(len(inst.targets)):
        lo, hi = int(inst.offsets[t]), int(inst.offsets[t + 1])
        extra = (inst.bits[lo:hi] & ~trained) @ inst.cost  # (k,) cost still to pay
        best = int(np.argmin(extra))
        total += float(extra[best])
        trained |= inst.bits[lo + best]
    return total


def _min_budget(inst: _Instance) -> tuple[float, list[str]]:
    """The least label cost that serves every target, and the tasks it trains (exact MIP)."""
    cand = np.flatnonzero(_reduce(inst, None))
    model = _build_model(inst, cand, "target", x_integer=False, budget=None)
    res = _solve_mip(model.cost, model.integer, model.rows, False, None, {})
    if res.status != "Optimal":
        raise TaskonomyError(f"internal error: the minimum-budget problem ended {res.status!r}.")
    trained = model.used[res.x[: len(model.used)] > 0.5]
    return float(inst.cost[trained].sum()), [inst.universe[s] for s in trained]


# ---- the estimator -------------------------------------------------------------------------
class TaxonomyBIP:
    """Choose which tasks to train from scratch and how to serve every target, exactly.

    Parameters are stored as given; ``fit`` validates them and solves. Results:
    ``policy_`` (:class:`~taskonomy.taxonomy.policy.Policy`), ``objective_`` (Σ importance ·
    affinity of the chosen transfers), ``scratch_`` (tasks to train, sorted), ``status_``
    (always ``"optimal"``: anything else raises), ``n_candidates_`` (candidate transfers
    before reductions), ``n_modelled_`` (transfers left in the MIP), ``label_cost_`` (cost of
    ``scratch_``), ``solve_seconds_`` (whole fit), ``mip_seconds_`` (inside HiGHS),
    ``lp_integral_`` (closed by an integral LP relaxation) and ``mip_nodes_``.

    Errors (:class:`~taskonomy.errors.TaskonomyError`): unknown task names, budget < 0,
    max_order < 1, a target with no candidate transfer (named, with the reason), a budget
    below the minimum that serves every target (the minimum is computed and named), and a
    time limit reached before optimality is proven (with the gap).

    ``highs_options`` passes extra HiGHS options (for benchmarks); they override the
    formulation's, and the optimality gap options cannot be loosened through it.

    >>> from taskonomy.affinity import Transfer, TransferTable
    >>> table = TransferTable({
    ...     Transfer(("self",), "normal"): 0.6, Transfer(("random",), "normal"): 0.1,
    ...     Transfer(("self",), "reshading"): 0.5, Transfer(("normal",), "reshading"): 0.3,
    ... })
    >>> bip = TaxonomyBIP(budget=1).fit(table)
    >>> bip.scratch_, round(bip.objective_, 3)
    (('normal',), 0.9)
    """

    def __init__(
        self,
        budget: float,
        max_order: int | None = None,
        targets: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        importance: Mapping[str, float] | None = None,
        label_cost: Mapping[str, float] | None = None,
        time_limit: float | None = None,
        formulation: str = DEFAULT_FORMULATION,
        highs_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.budget = budget
        self.max_order = max_order
        self.targets = targets
        self.sources = sources
        self.importance = importance
        self.label_cost = label_cost
        self.time_limit = time_limit
        self.formulation = formulation
        self.highs_options = highs_options

    def fit(self, table: TransferTable) -> Self:
        """Solve the BIP on an affinity ``table``; raises :class:`TaskonomyError` if it cannot."""
        t_start = time.perf_counter()
        budget = _check_budget(self.budget)
        max_order = _check_max_order(self.max_order)
        if self.formulation not in FORMULATIONS:
            raise input_error("formulation", self.formulation, one_of(FORMULATIONS))
        form = FORMULATIONS[self.formulation]
        tl = self.time_limit
        if tl is not None and (
            isinstance(tl, bool)
            or not isinstance(tl, int | float)
            or not math.isfinite(float(tl))
            or tl <= 0
        ):
            raise input_error("time_limit", tl, "a positive number of seconds, or None")
        options = dict(self.highs_options or {})
        for key in ("mip_rel_gap", "mip_abs_gap"):
            if key in options:
                raise input_error(
                    "highs_options", key, "no gap option", "The BIP is always solved to optimality."
                )

        inst = _prepare(
            table, self.targets, self.sources, self.importance, self.label_cost, max_order
        )
        self.n_candidates_ = len(inst.mask)
        _check_feasible(inst, budget)

        if form.reduce:
            keep = _reduce(inst, budget)
            # A target left with one candidate that needs nothing paid for is a constant:
            # leave it out of the MIP (one that needs a paid task must stay: it uses budget).
            counts = np.add.reduceat(keep.astype(np.int64), inst.offsets[:-1])  # (n_targets,)
            free = inst.req_cost <= _COST_TOL  # (m,)
            keep &= ~((counts[inst.target_of] == 1) & free)
        else:
            keep = np.ones(len(inst.mask), dtype=bool)
        cand = np.flatnonzero(keep)  # (n_x,)
        self.n_modelled_ = len(cand)

        options = {**dict(form.options), **options}
        _check_options(options)
        chosen, mip_seconds = self._solve(inst, cand, form, budget, tl, options)
        self._finish(inst, chosen, budget, max_order, t_start, mip_seconds)
        return self

    def _solve(
        self,
        inst: _Instance,
        cand: np.ndarray,  # (n_x,) candidates to model
        form: _Formulation,
        budget: float,
        time_limit: float | None,
        options: dict[str, Any],
    ) -> tuple[np.ndarray, float]:
        """(chosen candidate per target, seconds in HiGHS), proven optimal or raises."""
        self.mip_nodes_ = 0
        self.lp_integral_ = False
        free = inst.cost <= _COST_TOL  # (U,) tasks that cost nothing are always trained
        if not len(cand):
            return inst.choose(free), 0.0
        model = _build_model(inst, cand, form.rows, form.x_integer, budget)
        n_y = len(model.used)
        # Solve with the largest objective coefficient at 1 so the gap tolerances are relative
        # to the data's scale (importances may be large); results are scaled back.
        scale = float(np.abs(model.cost).max()) or 1.0
        obj = model.cost / scale  # (n_col,)
        modelled = np.unique(inst.target_of[cand])  # targets whose choice is in the MIP
        spent = 0.0

        def derive(y: np.ndarray) -> tuple[np.ndarray, float]:
            trained = free.copy()
            trained[model.used] |= y > 0.5
            chosen = inst.choose(trained)
            return chosen, float(inst.importance[modelled] @ inst.affinity[chosen[modelled]])

        if form.lp_first:
            # The LP relaxation bounds the BIP; when its optimum has integral y, the trained
            # set it names scores that bound, so it is optimal and no branching is needed.
            lp = _solve_mip(
                obj, np.zeros_like(model.integer), model.rows, True, time_limit, options
            )
            spent += lp.seconds
            y = lp.x[:n_y]
            if lp.status == "Optimal" and np.all(np.minimum(y, 1.0 - y) <= 1e-6):
                chosen, got = derive(y)
                if got / scale >= lp.objective - _ABS_GAP * max(1.0, abs(lp.objective)):
                    self.lp_integral_ = True
                    return chosen, spent
            if time_limit is not None:
                time_limit = max(time_limit - lp.seconds, 1e-3)
        res = _solve_mip(obj, model.integer, model.rows, True, time_limit, options)
        spent += res.seconds
        self.mip_nodes_ = res.nodes
        if res.status == "Time limit reached":
            if res.has_solution and math.isfinite(res.bound):
                where = (
                    f"best objective found {res.objective * scale:.6g}, bound "
                    f"{res.bound * scale:.6g} (relative gap {res.gap:.3%})"
                )
            elif res.has_solution:
                where = f"best objective found {res.objective * scale:.6g}, no bound yet"
            else:
                where = "no feasible solution found yet"
            raise TaskonomyError(
                f"the BIP hit the time limit ({self.time_limit} s) before proving optimality: "
                f"{where}. Raise `time_limit` (or set None), or lower `max_order`."
            )
        if res.status != "Optimal":
            raise TaskonomyError(
                f"the BIP solver ended with status {res.status!r} instead of an optimal "
                "solution; this is unexpected for a feasible instance, please report it."
            )
        chosen, got = derive(res.x[:n_y])
        # The answer is re-derived from the trained set; it must score what HiGHS proved.
        if got / scale < res.objective - 1e-7 * max(1.0, abs(res.objective)):
            raise TaskonomyError(
                f"internal error: the policy scores {got} below the solver's "
                f"{res.objective * scale}."
            )
        return chosen, spent

    def _finish(
        self,
        inst: _Instance,
        chosen: np.ndarray,  # (n_targets,) candidate index per target
        budget: float,
        max_order: int | None,
        t_start: float,
        mip_seconds: float,
    ) -> None:
        choices: dict[str, Choice] = {}
        for t, c in zip(inst.targets, chosen, strict=True):
            tr = inst.transfer(int(c))
            aff = float(inst.affinity[c])
            if tr.is_self:
                choices[t] = Choice(target=t, sources=(t,), kind="scratch", affinity=aff)
            else:
                choices[t] = Choice(target=t, sources=tr.sources, kind="transfer", affinity=aff)
        needed = inst.bits[chosen].any(axis=0)  # (U,)
        scratch = tuple(inst.universe[s] for s in np.flatnonzero(needed))
        spent = float(inst.cost[needed].sum())
        if spent > budget + 1e-6 * max(1.0, budget):
            raise TaskonomyError(f"internal error: the policy spends {spent} > budget {budget}.")
        objective = float(inst.importance @ inst.affinity[chosen])
        seconds = time.perf_counter() - t_start
        self.objective_ = objective
        self.scratch_ = scratch
        self.status_ = "optimal"
        self.label_cost_ = spent
        self.solve_seconds_ = seconds
        self.mip_seconds_ = mip_seconds
        self.policy_ = Policy(
            objective=objective,
            budget=budget,
            max_order=max_order,
            scratch=scratch,
            choices=choices,
            status="optimal",
            solve_seconds=seconds,
            extra={
                "formulation": self.formulation,
                "label_cost": spent,
                "n_candidates": self.n_candidates_,
                "n_modelled": self.n_modelled_,
            },
        )


def _check_feasible(inst: _Instance, budget: float) -> None:
    """Raise, naming the minimum budget, when no trained set within ``budget`` serves all."""
    free = (inst.req_cost <= _COST_TOL).astype(np.int8)  # (m,)
    if np.maximum.reduceat(free, inst.offsets[:-1]).all():
        return  # every target has a transfer that needs nothing trained
    if _greedy_cover(inst) <= budget + _COST_TOL:
        return
    need, trained = _min_budget(inst)
    if need <= budget + _COST_TOL:
        return
    needy = [
        t
        for i, t in enumerate(inst.targets)
        if not free[inst.offsets[i] : inst.offsets[i + 1]].any()
    ]
    raise TaskonomyError(
        f"budget {budget:g} is too small: serving every target needs a label cost of at least "
        f"{need:g} (e.g. training {_fmt_set(trained)}); the targets that need a trained task "
        f"are {_fmt_set(needy, 12)}. Raise the budget to {need:g} or more, or drop some of "
        "those targets."
    )


def solve(table: TransferTable, budget: float, max_order: int | None = None, **kw: Any) -> Policy:
    """Solve the BIP on ``table`` and return the optimal :class:`Policy`.

    ``kw`` are the other :class:`TaxonomyBIP` parameters (targets, sources, importance, …).
    """
    return TaxonomyBIP(budget, max_order, **kw).fit(table).policy_

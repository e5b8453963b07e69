"""The supervision-budget Binary Integer Program (BIP) of Taskonomy, solved exactly with HiGHS.

The paper's program (Zamir et al. 2018, Section 3.4), for targets ``T``, sources ``S``,
candidate transfers ``e = (sources(e) → target(e))`` with affinity ``p_e``, importance
``r_t`` and label cost ``c_s``::

    maximize    Σ_e r_target(e) · p_e · x_e
    subject to  x_e ≤ y_s                 for every source s of e      (a transfer needs its sources)
                Σ_{e into t} x_e = 1      for every target t           (one incoming transfer)
                Σ_s c_s · y_s ≤ budget                                 (supervision budget)
                x, y binary

``y_s = 1`` means "train s from scratch" (collect its labels). Full supervision of ``t`` is the
edge ``self → t`` and needs ``y_t``. Modelling choices, on top of the paper's text:

* ``random`` (an untrained encoder) needs no labels: it costs nothing and is always available,
  so a transfer ``random + s → t`` needs only ``s`` trained, and ``random → t`` needs nothing.
* ``pixels`` is a baseline for Gain, never a candidate source.
* A task outside ``sources`` has no network: it cannot be a source and, as a target, has no
  ``self`` edge. Default ``sources``: every task used as a source in the table plus every
  target with a ``self`` entry (its own network is a source for itself).
* ``max_order`` counts every source of a transfer, ``random`` included (the table's order).
* The answer depends only on the trained set ``Y``: each target then takes its best available
  transfer. Ties go to ``self``, then to the lower order, then to the sorted source names.
  ``scratch_`` lists the tasks the chosen transfers use (a task that would use spare budget
  without serving anyone is not listed).

Formulations (``formulation=``; all exact, they differ in speed only; see
``benchmarks/bench_bip.py``):

* ``"paper"``: the paper's aggregated linking row per transfer, ``k·x_e ≤ Σ_{s∈e} y_s``,
  ``x`` binary. Correct but its LP relaxation is weak.
* ``"edge"``: one row ``x_e ≤ y_s`` per (transfer, source), ``x`` binary.
* ``"target"``: one row ``Σ_{e into t, s∈e} x_e ≤ y_s`` per (target, source), ``x`` binary.
  Valid because each target takes exactly one transfer; it implies the ``edge`` rows and
  has a much tighter relaxation.
* ``"reduced"`` (default, fastest): the ``target`` rows after provably safe reductions:
  a transfer is dropped when a better-or-equal (by the tie order above) transfer into the
  same target needs a subset of its sources, or when its sources alone cost more than the
  budget; a target whose best transfer needs nothing becomes a constant; ``x`` is
  continuous, because once ``y`` is integral each target's rows form a simplex whose best
  vertex is integral (and the answer is re-derived from ``Y`` anyway).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import highspy
import numpy as np

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.taxonomy.policy import Choice, Policy
from taskonomy.tasks import PIXELS, SELF, canonical_name

RANDOM = "random"

Rows = Literal["aggregated", "edge", "target"]


@dataclass(frozen=True)
class _Formulation:
    rows: Rows
    x_integer: bool
    reduce: bool


FORMULATIONS: dict[str, _Formulation] = {
    "reduced": _Formulation("target", x_integer=False, reduce=True),
    "reduced-edge": _Formulation("edge", x_integer=False, reduce=True),
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
    except (OSError, ValueError):
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


@dataclass
class _MipResult:
    status: str
    x: np.ndarray  # (n_cols,)
    objective: float
    bound: float
    gap: float
    seconds: float


def _solve_mip(
    cost: np.ndarray,  # (n_cols,) objective coefficients
    upper: np.ndarray,  # (n_cols,) column upper bounds (lower bounds are 0)
    integer: np.ndarray,  # (n_cols,) bool
    rows: list[tuple[list[int], list[float], float, float]],  # (cols, coefs, lo, hi)
    maximize: bool,
    time_limit: float | None,
    options: Mapping[str, Any],
    start: np.ndarray | None = None,  # (n_cols,) a feasible solution, or None
) -> _MipResult:
    n_col = len(cost)
    starts = [0]
    index: list[int] = []
    value: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    for cols, coefs, rlo, rhi in rows:
        index.extend(cols)
        value.extend(coefs)
        starts.append(len(index))
        lo.append(rlo)
        hi.append(rhi)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.asarray(upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(lo, dtype=np.float64)
    lp.row_upper_ = np.asarray(hi, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = len(rows)
    lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer
    ]
    h = _new_highs()
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", _ABS_GAP)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    for key, val in options.items():
        if h.setOptionValue(key, val) != highspy.HighsStatus.kOk:
            raise input_error("HiGHS option", f"{key}={val!r}", "a valid HiGHS option and value")
    if h.passModel(lp) != highspy.HighsStatus.kOk:
        raise TaskonomyError("HiGHS refused the BIP model (internal error); please report it.")
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in start]
        h.setSolution(sol)
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return _MipResult(
        status=status,
        x=x,
        objective=float(info.objective_function_value),
        bound=float(info.mip_dual_bound),
        gap=float(info.mip_gap),
        seconds=seconds,
    )


# ---- the instance ------------------------------------------------------------------------
@dataclass
class _Instance:
    """Targets, trainable sources and candidate transfers, sorted best-first per target."""

    targets: list[str]
    sources: list[str]  # trainable sources (``random`` excluded)
    cost: np.ndarray  # (n_sources,) label cost
    importance: np.ndarray  # (n_targets,)
    transfers: list[Transfer]  # (m,) grouped by target, best first within a target
    req: list[tuple[int, ...]]  # (m,) source indices each transfer needs trained
    mask: np.ndarray  # (m,) uint64 bitmask of req
    affinity: np.ndarray  # (m,)
    target_of: np.ndarray  # (m,) target index
    offsets: np.ndarray  # (n_targets + 1,) candidate slice of each target

    def req_cost(self) -> np.ndarray:
        """(m,) label cost of the sources each candidate needs."""
        return np.array([float(self.cost[list(r)].sum()) for r in self.req])

    def choose(self, trained: np.ndarray) -> np.ndarray:
        """Index of each target's best available candidate given a bool (n_sources,) set."""
        bits = np.uint64(0)
        for s in np.flatnonzero(trained):
            bits |= np.uint64(1) << np.uint64(s)
        avail = np.flatnonzero((self.mask & ~bits) == 0)  # (k,) candidate indices
        pos = np.searchsorted(avail, self.offsets[:-1])  # (n_targets,)
        pos = np.minimum(pos, len(avail) - 1)
        first = avail[pos]
        if len(avail) == 0 or np.any(first >= self.offsets[1:]) or np.any(first < self.offsets[:-1]):
            raise TaskonomyError("internal error: a target has no available transfer.")
        return first


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
    given: Mapping[str, float] | None, what: str, allowed: set[str] | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, val in (given or {}).items():
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


def _fmt_set(names: Sequence[str] | set[str], limit: int = 8) -> str:
    items = sorted(names)
    shown = ", ".join(items[:limit])
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    return "{" + shown + more + "}"


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
    if table.kind != "affinity":
        raise input_error(
            "table kind",
            table.kind,
            "'affinity'",
            "The BIP maximizes affinities; read all_affinities*.pkl or an affinity CSV.",
        )
    if len(table) == 0:
        raise input_error("table", "an empty table", "at least one transfer")

    by_target: dict[str, list[tuple[Transfer, float]]] = {}
    for tr, val in table.items():
        by_target.setdefault(tr.target, []).append((tr, val))
    table_targets = list(by_target)

    if targets is None:
        tg = table_targets
    else:
        if isinstance(targets, str):
            raise input_error("targets", targets, "a sequence of task names, not one string")
        tg = list(dict.fromkeys(_task(t, "target") for t in targets))
        if not tg:
            raise input_error("targets", list(targets), "at least one target")
        for t in tg:
            if t not in by_target:
                raise input_error(
                    "target",
                    t,
                    one_of(table_targets),
                    "The table has no transfer into it; pick targets the table covers.",
                )

    if sources is None:
        has_self = {tr.target for tr in table if tr.is_self}
        src_set = set(table.sources()) | has_self
    else:
        if isinstance(sources, str):
            raise input_error("sources", sources, "a sequence of task names, not one string")
        src_set = {_task(s, "source") for s in sources}
    src_set.discard(RANDOM)  # always available for free; never a trained task
    src = sorted(src_set)
    if len(src) > 64:
        raise input_error("number of sources", len(src), "at most 64")
    src_index = {s: i for i, s in enumerate(src)}

    imp = _weights(importance, "importance", set(tg))
    costs = _weights(label_cost, "label_cost", None)
    if costs.get(RANDOM, 0.0) != 0.0:
        raise input_error(
            "label_cost of 'random'",
            costs[RANDOM],
            "0 (or absent)",
            "'random' is an untrained encoder and needs no labels.",
        )
    cost = np.array([costs.get(s, 1.0) for s in src], dtype=np.float64)

    transfers: list[Transfer] = []
    reqs: list[tuple[int, ...]] = []
    affs: list[float] = []
    target_of: list[int] = []
    offsets = [0]
    for ti, t in enumerate(tg):
        cands: list[tuple[tuple[float, bool, int, tuple[str, ...]], Transfer, tuple[int, ...]]] = []
        for tr, val in by_target[t]:
            if tr.is_self:
                if t not in src_index:
                    continue
                req: tuple[int, ...] = (src_index[t],)
            else:
                if SELF in tr.sources or PIXELS in tr.sources:
                    continue
                if max_order is not None and tr.order > max_order:
                    continue
                if any(s != RANDOM and s not in src_index for s in tr.sources):
                    continue
                req = tuple(sorted(src_index[s] for s in tr.sources if s != RANDOM))
            # best first: higher affinity, then self, then lower order, then names
            key = (-val, not tr.is_self, tr.order, tr.sources)
            cands.append((key, tr, req))
        if not cands:
            raise _no_candidate_error(t, by_target[t], src_set, max_order)
        cands.sort(key=lambda c: c[0])
        for key, tr, req in cands:
            transfers.append(tr)
            reqs.append(req)
            affs.append(-key[0])
            target_of.append(ti)
        offsets.append(len(transfers))

    mask = np.zeros(len(reqs), dtype=np.uint64)
    for i, req in enumerate(reqs):
        bits = 0
        for s in req:
            bits |= 1 << s
        mask[i] = bits
    return _Instance(
        targets=tg,
        sources=src,
        cost=cost,
        importance=np.array([imp.get(t, 1.0) for t in tg], dtype=np.float64),
        transfers=transfers,
        req=reqs,
        mask=mask,
        affinity=np.array(affs, dtype=np.float64),
        target_of=np.array(target_of, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.int64),
    )


def _no_candidate_error(
    t: str, entries: list[tuple[Transfer, float]], src_set: set[str], max_order: int | None
) -> TaskonomyError:
    has_self = any(tr.is_self for tr, _ in entries)
    if t not in src_set:
        why_self = "it is not in sources, so it cannot be trained from scratch"
    elif not has_self:
        why_self = "the table has no `self` entry for it, so full supervision is not an option"
    else:  # pragma: no cover - a self entry with t in sources is always a candidate
        why_self = "its `self` edge is unavailable"
    others = [tr for tr, _ in entries if not tr.is_self]
    too_high = [tr for tr in others if max_order is not None and tr.order > max_order]
    missing = sorted(
        {s for tr in others for s in tr.sources if s not in src_set and s != RANDOM}
        - {SELF, PIXELS}
    )
    order_txt = "any order" if max_order is None else f"order ≤ {max_order}"
    msg = (
        f"target {t!r} has no candidate transfer: {why_self}, and no transfer of {order_txt} "
        f"from sources {_fmt_set(src_set | {RANDOM})} is in the table "
        f"({len(others)} transfers into it: {len(too_high)} exceed max_order"
    )
    if missing:
        msg += f"; the others need a source outside `sources`, e.g. {_fmt_set(missing, 5)}"
    msg += ")."
    return TaskonomyError(
        msg + " Add it (or its sources) to `sources`, raise `max_order`, or drop it from `targets`."
    )


def _reduce(inst: _Instance, budget: float) -> np.ndarray:
    """Bool (m,) mask of candidates worth modelling (the rest can never be strictly better).

    Candidate j is dropped when an earlier (better-or-equal by the tie order) candidate i into
    the same target needs a subset of j's sources: whenever j is available so is i, and i is
    preferred. It is also dropped when its own sources cost more than the budget.
    """
    keep = inst.req_cost() <= budget + _COST_TOL
    for ti in range(len(inst.targets)):
        lo, hi = int(inst.offsets[ti]), int(inst.offsets[ti + 1])
        idx = lo + np.flatnonzero(keep[lo:hi])  # (k,) surviving so far, best first
        m = inst.mask[idx]  # (k,)
        subset = (m[:, None] & ~m[None, :]) == 0  # (k, k): req(i) ⊆ req(j)
        dominated = np.triu(subset, k=1).any(axis=0)  # (k,) some earlier i covers j
        keep[idx[dominated]] = False
    return keep


def _rows(
    inst: _Instance,
    cand: np.ndarray,  # (n_x,) candidate indices modelled as x columns
    rows_kind: Rows,
    n_y: int,
    y_col: np.ndarray,  # (n_sources,) column of each source's y, -1 when absent
) -> list[tuple[list[int], list[float], float, float]]:
    rows: list[tuple[list[int], list[float], float, float]] = []
    by_target: dict[int, list[int]] = {}
    for k, c in enumerate(cand):
        by_target.setdefault(int(inst.target_of[c]), []).append(k)
    for ks in by_target.values():
        rows.append(([n_y + k for k in ks], [1.0] * len(ks), 1.0, 1.0))
        if rows_kind == "target":
            per_source: dict[int, list[int]] = {}
            for k in ks:
                for s in inst.req[cand[k]]:
                    per_source.setdefault(s, []).append(n_y + k)
            for s, cols in per_source.items():
                rows.append(([*cols, int(y_col[s])], [1.0] * len(cols) + [-1.0], -math.inf, 0.0))
        else:
            for k in ks:
                req = inst.req[cand[k]]
                if not req:
                    continue
                if rows_kind == "edge":
                    for s in req:
                        rows.append(([n_y + k, int(y_col[s])], [1.0, -1.0], -math.inf, 0.0))
                else:  # aggregated: k·x_e ≤ Σ y_s
                    cols = [n_y + k] + [int(y_col[s]) for s in req]
                    coefs = [float(len(req))] + [-1.0] * len(req)
                    rows.append((cols, coefs, -math.inf, 0.0))
    return rows


def _min_budget(inst: _Instance) -> tuple[float, list[str]]:
    """The least label cost that serves every target, and the tasks it trains (exact MIP)."""
    keep = _reduce_by_subset(inst)
    cand = np.flatnonzero(keep)
    used = sorted({s for c in cand for s in inst.req[c]})
    y_col = np.full(len(inst.sources), -1, dtype=np.int64)
    y_col[used] = np.arange(len(used))
    n_y = len(used)
    n_col = n_y + len(cand)
    cost = np.zeros(n_col)
    cost[:n_y] = inst.cost[used]
    integer = np.zeros(n_col, dtype=bool)
    integer[:n_y] = True
    rows = _rows(inst, cand, "target", n_y, y_col)
    res = _solve_mip(cost, np.ones(n_col), integer, rows, False, None, {})
    if res.status != "Optimal":
        raise TaskonomyError(f"internal error: the minimum-budget problem ended {res.status!r}.")
    trained = [inst.sources[s] for s, j in zip(used, range(n_y), strict=True) if res.x[j] > 0.5]
    return float(inst.cost[[inst.sources.index(s) for s in trained]].sum()), trained


def _reduce_by_subset(inst: _Instance) -> np.ndarray:
    """Bool (m,): candidates whose source set is minimal within their target (for min budget)."""
    keep = np.ones(len(inst.req), dtype=bool)
    for ti in range(len(inst.targets)):
        lo, hi = int(inst.offsets[ti]), int(inst.offsets[ti + 1])
        m = inst.mask[lo:hi]  # (k,)
        subset = (m[:, None] & ~m[None, :]) == 0  # (k, k): req(i) ⊆ req(j)
        equal = subset & subset.T
        strict = subset & ~equal
        # drop j if a strict subset exists, or an equal set appears earlier
        dominated = strict.any(axis=0) | np.triu(equal, k=1).any(axis=0)
        keep[lo:hi] = ~dominated
    return keep


def _greedy_cover(inst: _Instance) -> float:
    """Label cost of a quick feasible trained set (an upper bound on the minimum budget)."""
    trained = np.zeros(len(inst.sources), dtype=bool)
    total = 0.0
    for ti in range(len(inst.targets)):
        lo, hi = int(inst.offsets[ti]), int(inst.offsets[ti + 1])
        extra = [
            float(inst.cost[[s for s in inst.req[c] if not trained[s]]].sum())
            for c in range(lo, hi)
        ]
        best = lo + int(np.argmin(extra))
        total += extra[best - lo]
        trained[list(inst.req[best])] = True
    return total


# ---- the estimator -------------------------------------------------------------------------
class TaxonomyBIP:
    """Choose which tasks to train from scratch and how to serve every target, exactly.

    Parameters are stored as given; ``fit`` validates them and solves. Results:
    ``policy_`` (:class:`~taskonomy.taxonomy.policy.Policy`), ``objective_`` (Σ importance ·
    affinity of the chosen transfers), ``scratch_`` (tasks to train, sorted), ``status_``
    (``"optimal"``), ``n_candidates_`` (candidate transfers before reductions),
    ``n_modelled_`` (transfers left in the model) and ``solve_seconds_``.
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

        inst = _prepare(
            table, self.targets, self.sources, self.importance, self.label_cost, max_order
        )
        self.n_candidates_ = len(inst.transfers)
        self._check_feasible(inst, budget)

        if form.reduce:
            keep = _reduce(inst, budget)
        else:
            keep = np.ones(len(inst.transfers), dtype=bool)
        # Targets left with one candidate are constants; model only the others.
        counts = np.add.reduceat(keep.astype(np.int64), inst.offsets[:-1])  # (n_targets,)
        multi = counts[inst.target_of] > 1  # (m,)
        if not form.reduce:
            multi[:] = True
        cand = np.flatnonzero(keep & multi)  # (n_x,)
        self.n_modelled_ = len(cand)

        trained = np.zeros(len(inst.sources), dtype=bool)
        status = "optimal"
        mip_seconds = 0.0
        if len(cand):
            used = sorted({s for c in cand for s in inst.req[c]})
            y_col = np.full(len(inst.sources), -1, dtype=np.int64)
            y_col[used] = np.arange(len(used))
            n_y = len(used)
            n_col = n_y + len(cand)
            obj = np.zeros(n_col)
            obj[n_y:] = inst.importance[inst.target_of[cand]] * inst.affinity[cand]
            integer = np.zeros(n_col, dtype=bool)
            integer[:n_y] = True
            integer[n_y:] = form.x_integer
            rows = _rows(inst, cand, form.rows, n_y, y_col)
            rows.append((list(range(n_y)), [float(c) for c in inst.cost[used]], -math.inf, budget))
            res = _solve_mip(
                obj, np.ones(n_col), integer, rows, True, tl, dict(self.highs_options or {})
            )
            mip_seconds = res.seconds
            if res.status == "Time limit reached":
                raise TaskonomyError(
                    f"the BIP hit the time limit ({tl} s) before proving optimality: best "
                    f"objective found {res.objective:.6g}, bound {res.bound:.6g}, relative gap "
                    f"{res.gap:.3%}. Raise `time_limit` (or set None), or lower `max_order`."
                )
            if res.status != "Optimal":
                raise TaskonomyError(
                    f"the BIP solver ended with status {res.status!r} instead of an optimal "
                    "solution; this is unexpected for a feasible instance, please report it."
                )
            for s, j in zip(used, range(n_y), strict=True):
                trained[s] = res.x[j] > 0.5
            self._solver_objective = res.objective
        self._finish(inst, trained, budget, max_order, status, t_start, mip_seconds)
        if len(cand):
            modelled = self._solver_objective
            # The constant targets are not in the model; compare only the modelled ones.
            const = float(
                sum(
                    self.policy_.choices[t].affinity * inst.importance[ti]
                    for ti, t in enumerate(inst.targets)
                    if counts[ti] <= 1 and form.reduce
                )
            )
            if self.objective_ + 1e-7 < modelled + const:
                raise TaskonomyError(
                    "internal error: the policy re-derived from the trained set scores "
                    f"{self.objective_} below the solver's {modelled + const}."
                )
        return self

    def _check_feasible(self, inst: _Instance, budget: float) -> None:
        if _greedy_cover(inst) <= budget + _COST_TOL:
            return
        need, trained = _min_budget(inst)
        if need <= budget + _COST_TOL:
            return
        req_cost = inst.req_cost()
        needy = [
            t
            for ti, t in enumerate(inst.targets)
            if req_cost[inst.offsets[ti] : inst.offsets[ti + 1]].min() > _COST_TOL
        ]
        raise TaskonomyError(
            f"budget {budget:g} is too small: serving every target needs a label cost of at "
            f"least {need:g} (e.g. training {_fmt_set(trained)}); targets that need a trained "
            f"task: {_fmt_set(needy)}. Raise the budget to {need:g} or more, add a free "
            "`random` transfer into those targets, or drop them from `targets`."
        )

    def _finish(
        self,
        inst: _Instance,
        trained: np.ndarray,
        budget: float,
        max_order: int | None,
        status: str,
        t_start: float,
        mip_seconds: float,
    ) -> None:
        chosen = inst.choose(trained)  # (n_targets,)
        choices: dict[str, Choice] = {}
        needed: set[int] = set()
        objective = 0.0
        for ti, c in enumerate(chosen):
            t = inst.targets[ti]
            tr = inst.transfers[c]
            needed.update(inst.req[c])
            aff = float(inst.affinity[c])
            objective += float(inst.importance[ti]) * aff
            if tr.is_self:
                choices[t] = Choice(target=t, sources=(t,), kind="scratch", affinity=aff)
            else:
                choices[t] = Choice(target=t, sources=tr.sources, kind="transfer", affinity=aff)
        scratch = tuple(sorted(inst.sources[s] for s in needed))
        spent = float(inst.cost[sorted(needed)].sum()) if needed else 0.0
        if spent > budget + 1e-6:
            raise TaskonomyError(
                f"internal error: the solution spends {spent} over the budget {budget}."
            )
        seconds = time.perf_counter() - t_start
        self.objective_ = objective
        self.scratch_ = scratch
        self.status_ = status
        self.label_cost_ = spent
        self.solve_seconds_ = seconds
        self.mip_seconds_ = mip_seconds
        self.policy_ = Policy(
            objective=objective,
            budget=budget,
            max_order=max_order,
            scratch=scratch,
            choices=choices,
            status=status,
            solve_seconds=seconds,
            extra={
                "formulation": self.formulation,
                "label_cost": spent,
                "n_candidates": self.n_candidates_,
                "n_modelled": self.n_modelled_,
            },
        )


def solve(table: TransferTable, budget: float, max_order: int | None = None, **kw: Any) -> Policy:
    """Solve the BIP on ``table`` and return the optimal :class:`Policy`.

    ``kw`` are the other :class:`TaxonomyBIP` parameters (targets, sources, importance, …).
    """
    return TaxonomyBIP(budget, max_order, **kw).fit(table).policy_

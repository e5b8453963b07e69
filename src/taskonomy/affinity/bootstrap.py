"""How sure is an affinity? A bootstrap over test images (and training seeds) through AHP.

An affinity is estimated from a finite test set and, usually, one training seed per network.
:class:`AffinityBootstrap` resamples both and pushes every replicate through the *whole*
chain of :mod:`taskonomy.affinity.ahp`: per-image losses → tournament win matrix → clip →
``W / Wᵀ`` → principal eigenvector → affinities, plus the win rates against ``self`` and
``pixels`` (Quality and Gain).

Input (``fit(losses)``): ``target → {source-set label → per-image test losses}``. A label is a
:class:`~taskonomy.affinity.table.Transfer` into that target or its sources joined by ``+``
(``"normal+reshading"``, ``"self"``, ``"random"``, ``"pixels"``). Losses are ``(N,)`` for one
training seed or ``(S, N)`` for ``S`` seeds evaluated on the same ``N`` test images; a
``(N,)`` row next to ``(S, N)`` rows is reused for every seed. As in the pipeline
(``pipeline/run.py``), ``pixels`` enters the win rates only, never AHP.

Resampling (two levels when ``S > 1``): replicate ``r`` draws seed counts ``c_rs`` (``S``
seeds with replacement) and image counts ``c_rn`` (``N`` images with replacement), and weighs
the comparison "seed ``s`` of transfer ``i`` vs seed ``s`` of ``j`` on image ``n``" by
``c_rs · c_rn``. With all counts 1 this is the plain tournament over the ``S·N`` (seed, image)
pairs, i.e. ``AHP().fit`` on the rows flattened to ``(n, S·N)``: that is the point estimate.
Targets with the same ``N`` (resp. ``S``) share each replicate's counts, because the pipeline
evaluates every target on the same test images: replicate tables keep the correlation
between targets, which matters when a whole table is re-solved (``taxonomy/stability.py``).

Vectorized: the comparison indicators of every pair of transfers, ``(N, pairs)``, are
multiplied by the ``(R, N)`` count matrix (one matmul per target; float32 is exact here since
counts and half-integers sum exactly below 2**24), and the ``R`` principal eigenvectors come
from repeated squaring of the batched positive matrices (converges like ``(λ₂/λ₁)^(2^k)``),
checked against their residual with ``numpy.linalg.eig`` as the fallback.

Intervals are percentile intervals: ``lower``/``upper`` are the ``(1 ∓ level)/2``
quantiles of the replicates, ``median`` the 0.5 quantile.

The ``tables/affinities_ci.csv`` format (:meth:`AffinityBootstrap.ci_csv_text`)::

    # taskonomy-ci v1
    # kind: affinity
    # level: 0.95
    # replicates: 1000
    target,sources,value,lower,median,upper
    depth_zbuffer,normal,0.0123,0.0101,0.0122,0.0147

``value`` is the point estimate (the number in ``affinities.csv``); ``kind`` may also be
``wins_vs_self`` or ``wins_vs_pixels``. Rows are sorted like the table format's.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self, cast

import numpy as np
from numpy.typing import ArrayLike

from taskonomy.affinity.ahp import AHP, Ties, tournament
from taskonomy.affinity.table import TableKind, Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.io import atomic_write_text
from taskonomy.tasks import canonical_name

CI_HEADER = "# taskonomy-ci v1"
WinKind = Literal["wins_vs_self", "wins_vs_pixels"]
IntervalKind = Literal["affinity", "wins_vs_self", "wins_vs_pixels"]
_REFERENCE: dict[WinKind, str] = {"wins_vs_self": "self", "wins_vs_pixels": "pixels"}

LossInput = Mapping[str, Mapping[str | Transfer, ArrayLike]]
"""``target → {source-set label or Transfer → (N,) or (S, N) per-image losses}``."""


# ---- batched AHP -------------------------------------------------------------------------
def perron_vectors(ratio: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Principal eigenvectors of a batch of positive matrices, each normalized to sum 1.

    ratio: (..., n, n), every entry > 0 → (..., n). Repeated squaring of the (rescaled)
    matrices: ``A^(2^k) 1 ∝ v`` with error ``~(λ₂/λ₁)^(2^k)``; a matrix whose eigen-residual
    ``|Av − λv| / λ`` stays above ``tol`` (never seen on AHP matrices) goes to ``eig``.
    """
    a = np.asarray(ratio, dtype=np.float64)
    shape = a.shape
    n = shape[-1]
    a = a.reshape(-1, n, n)
    m = a / a.sum(axis=(1, 2), keepdims=True)
    v = m.sum(axis=2)
    for _ in range(40):
        m = m @ m
        m /= m.sum(axis=(1, 2), keepdims=True)  # keeps entries in range (positive matrix)
        new = m.sum(axis=2)
        new /= new.sum(axis=1, keepdims=True)
        done = bool(np.abs(new - v).max() <= 1e-15)
        v = new
        if done:
            break
    av = (a @ v[:, :, None])[:, :, 0]  # (B, n)
    lam = av.sum(axis=1)  # v sums to 1, so λ = Σ (Av)
    bad = np.flatnonzero(np.abs(av - lam[:, None] * v).max(axis=1) > tol * lam)
    for b in bad:  # fallback, same recipe as AHP.fit
        vals, vecs = np.linalg.eig(a[b])
        vec = np.abs(vecs[:, int(np.argmax(vals.real))].real)
        v[b] = vec / vec.sum()
    return v.reshape(shape[:-1])


def batched_ahp(wins: np.ndarray, clip: tuple[float, float] = (0.001, 0.999)) -> np.ndarray:
    """AHP affinities of a batch of tournament matrices: (..., n, n) → (..., n).

    The same steps as :meth:`taskonomy.affinity.ahp.AHP.fit`: clip, ``W / Wᵀ``, principal
    eigenvector normalized to sum 1.
    """
    lo, hi = clip
    c = np.clip(np.asarray(wins, dtype=np.float64), lo, hi)
    return perron_vectors(c / np.swapaxes(c, -1, -2))


# ---- input -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetRows:
    """One target's parsed losses (see :func:`parse_losses`)."""

    transfers: list[Transfer]  # (n,) AHP rows (no pixels)
    rows: list[Transfer]  # (n_all,) transfers, then pixels if given
    losses: np.ndarray  # (n_all, S, N)


def _as_transfer(label: str | Transfer, target: str) -> Transfer:
    if isinstance(label, Transfer):
        if label.target != target:
            raise input_error(
                f"transfer listed under target {target!r}",
                str(label),
                f"a transfer into {target!r}",
            )
        return label
    if not isinstance(label, str) or not label:
        raise input_error(
            f"source label into {target!r}", label, "'a+b' source names or a Transfer"
        )
    return Transfer.of(label.split("+"), target)


def _target_rows(target: str, given: Mapping[str | Transfer, ArrayLike]) -> TargetRows:
    if not isinstance(given, Mapping) or not given:
        raise input_error(
            f"losses of target {target!r}",
            type(given).__name__,
            "a non-empty mapping label → losses",
        )
    arrays: dict[Transfer, np.ndarray] = {}
    for label, raw in given.items():
        tr = _as_transfer(label, target)
        if tr in arrays:
            raise input_error(f"transfers into {target!r}", str(tr), "each transfer once")
        arr = np.asarray(raw, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[0] < 1:
            raise input_error(
                f"losses of {tr}", np.shape(raw), "(N,) or (S, N): S seeds × N test images"
            )
        if not np.isfinite(arr).all():
            raise input_error(
                f"losses of {tr}",
                "a NaN/inf value",
                "finite numbers",
                "A NaN/inf loss usually means a diverged transfer: retrain or drop it.",
            )
        arrays[tr] = arr
    shapes = {a.shape for a in arrays.values()}
    n_img = {s[1] for s in shapes}
    n_seed = {s[0] for s in shapes} - {1}
    if len(n_img) != 1 or len(n_seed) > 1:
        raise input_error(
            f"loss shapes into {target!r}",
            sorted(shapes),
            "one (S, N) for every transfer (or (N,) reused for every seed)",
            "Evaluate every transfer of a target on the same test images and seeds.",
        )
    s = max(n_seed, default=1)
    pix = Transfer(("pixels",), target)
    transfers = [tr for tr in arrays if tr != pix]
    if not transfers:
        raise input_error(f"transfers into {target!r}", "only pixels", "at least one AHP row")
    rows = transfers + ([pix] if pix in arrays else [])
    stacked = np.stack([np.broadcast_to(arrays[tr], (s, arrays[tr].shape[1])) for tr in rows])
    return TargetRows(transfers, rows, stacked)


def parse_losses(losses: LossInput) -> dict[str, TargetRows]:
    """Validate ``target → {label → (N,) or (S, N) losses}`` into canonical rows per target."""
    if not isinstance(losses, Mapping) or not losses:
        raise input_error("losses", type(losses).__name__, "a non-empty mapping target → rows")
    targets: dict[str, TargetRows] = {}
    for name, given in losses.items():
        target = canonical_name(name)
        if target in targets:
            raise input_error("targets", name, "each target once")
        targets[target] = _target_rows(target, given)
    return targets


def _pair_indicators(losses: np.ndarray, ties: Ties) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comparison indicators per (seed, image) and pair: ((N, S·P) float32, rows i, cols j).

    ``ties="half"``: pairs i < j with ``[Lᵢ < Lⱼ] + ½[Lᵢ = Lⱼ]`` (``W[j, i] = 1 − W[i, j]``);
    ``"loss"``: every ordered pair i ≠ j with ``[Lᵢ < Lⱼ]``.
    """
    n = losses.shape[0]
    if ties == "half":
        i, j = np.triu_indices(n, k=1)
    else:
        i, j = np.nonzero(~np.eye(n, dtype=bool))
    a, b = losses[i], losses[j]  # (P, S, N)
    ind = (a < b).astype(np.float32)
    if ties == "half":
        ind += np.float32(0.5) * (a == b)
    p, s, m = ind.shape
    return np.ascontiguousarray(ind.transpose(2, 1, 0).reshape(m, s * p)), i, j


# ---- the estimator -----------------------------------------------------------------------
class AffinityBootstrap:
    """Bootstrap intervals of affinities and win rates (see the module docstring).

    Parameters: ``n_replicates`` (R), ``level`` (two-sided coverage of the percentile
    intervals), ``seed`` (of the resampling generator), ``ties`` and ``clip`` as in
    :class:`~taskonomy.affinity.ahp.AHP`.

    Results of ``fit``: ``transfers_`` (target → AHP rows, in input order, pixels excluded),
    ``affinity_`` (point estimates: exactly ``AHP(clip, ties).fit`` on all the data),
    ``replicates_`` (target → (R, n) replicate affinities, columns in ``transfers_`` order),
    ``lower_``/``median_``/``upper_`` (tables of the interval), ``wins_`` (kind → point
    win-rate table, for the references present), ``win_rows_`` (target → every row incl.
    ``pixels``), ``win_replicates_`` (kind → target → (R, n_all)), ``image_counts_``
    (N → (R, N) resample counts) and ``seed_counts_`` (S → (R, S); absent for S = 1).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> boot = AffinityBootstrap(n_replicates=200).fit(
    ...     {"normal": {"self": rng.random(50), "random": rng.random(50) + 0.5}})
    >>> boot.lower_.value(["self"], "normal") > 0.5
    True
    """

    def __init__(
        self,
        n_replicates: int = 1000,
        level: float = 0.95,
        seed: int = 0,
        ties: Ties = "half",
        clip: tuple[float, float] = (0.001, 0.999),
    ) -> None:
        self.n_replicates = n_replicates
        self.level = level
        self.seed = seed
        self.ties = ties
        self.clip = clip

    def _check(self) -> int:
        r = self.n_replicates
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 1:
            raise input_error("n_replicates", r, "an integer ≥ 1 (e.g. 1000)")
        lv = self.level
        if isinstance(lv, bool) or not isinstance(lv, int | float) or not 0.0 < float(lv) < 1.0:
            raise input_error("level", lv, "a coverage strictly between 0 and 1, e.g. 0.95")
        if self.ties not in ("half", "loss"):
            raise input_error("ties", self.ties, "'half' or 'loss'")
        return int(r)

    def fit(self, losses: LossInput) -> Self:
        """Resample and compute intervals; ``losses`` as in the module docstring."""
        n_rep = self._check()
        targets = parse_losses(losses)
        rng = np.random.default_rng(self.seed)
        n_imgs = sorted({t.losses.shape[2] for t in targets.values()})
        n_seeds = sorted({t.losses.shape[1] for t in targets.values()} - {1})
        self.seed_counts_ = {
            s: rng.multinomial(s, np.full(s, 1.0 / s), size=n_rep).astype(np.float64)
            for s in n_seeds
        }
        self.image_counts_ = {
            m: rng.multinomial(m, np.full(m, 1.0 / m), size=n_rep) for m in n_imgs
        }

        self.transfers_: dict[str, list[Transfer]] = {}
        self.win_rows_: dict[str, list[Transfer]] = {}
        self.replicates_: dict[str, np.ndarray] = {}
        self.win_replicates_: dict[WinKind, dict[str, np.ndarray]] = {k: {} for k in _REFERENCE}
        point: dict[Transfer, float] = {}
        win_point: dict[WinKind, dict[Transfer, float]] = {k: {} for k in _REFERENCE}
        for target, tr in targets.items():
            n_all, s, m = tr.losses.shape
            n = len(tr.transfers)
            flat = tr.losses.reshape(n_all, s * m)
            # Point estimates: the very computation the pipeline does on all the data.
            ahp = AHP(self.clip, self.ties).fit(flat[:n])
            point.update(zip(tr.transfers, ahp.affinity_.tolist(), strict=True))
            full = tournament(flat, self.ties)  # (n_all, n_all)

            wins = self._replicate_wins(tr.losses, n_rep)  # (R, n_all, n_all)
            self.transfers_[target] = tr.transfers
            self.win_rows_[target] = tr.rows
            self.replicates_[target] = batched_ahp(wins[:, :n, :n], self.clip)
            for kind, ref in _REFERENCE.items():
                key = Transfer((ref,), target)
                if key in tr.rows:
                    k = tr.rows.index(key)
                    self.win_replicates_[kind][target] = np.ascontiguousarray(wins[:, :, k])
                    win_point[kind].update(zip(tr.rows, full[:, k].tolist(), strict=True))

        self.affinity_ = TransferTable(point, "affinity")
        self.wins_: dict[WinKind, TransferTable] = {
            k: TransferTable(v, k) for k, v in win_point.items() if v
        }
        self.lower_, self.median_, self.upper_ = self.intervals("affinity")
        return self

    def _replicate_wins(self, losses: np.ndarray, n_rep: int) -> np.ndarray:
        """(R, n_all, n_all) replicate tournament matrices of one target."""
        n_all, s, m = losses.shape
        ind, i, j = _pair_indicators(losses, self.ties)  # (N, S·P)
        counts = self.image_counts_[m].astype(np.float32)  # (R, N)
        per_seed = (counts @ ind).astype(np.float64).reshape(n_rep, s, -1)  # (R, S, P)
        if s > 1:
            share = np.einsum("rs,rsp->rp", self.seed_counts_[s], per_seed) / (s * m)
        else:
            share = per_seed[:, 0, :] / m
        wins = np.empty((n_rep, n_all, n_all))
        wins[:, i, j] = share
        if self.ties == "half":
            wins[:, j, i] = 1.0 - share
            diag = 0.5
        else:
            diag = 0.0  # a transfer never strictly beats itself
        wins[:, np.arange(n_all), np.arange(n_all)] = diag
        return wins

    # ---- views -------------------------------------------------------------------------
    def _replicates_of(
        self, kind: IntervalKind
    ) -> tuple[dict[str, np.ndarray], dict[str, list[Transfer]]]:
        if not hasattr(self, "replicates_"):
            raise TaskonomyError("AffinityBootstrap is not fitted yet: call fit(losses) first.")
        if kind == "affinity":
            return self.replicates_, self.transfers_
        if kind not in _REFERENCE:
            raise input_error("interval kind", kind, one_of(["affinity", *_REFERENCE]))
        reps = self.win_replicates_[cast(WinKind, kind)]
        if not reps:
            ref = _REFERENCE[cast(WinKind, kind)]
            raise input_error(kind, f"no {ref!r} rows in the losses", f"a {ref!r} row per target")
        return reps, self.win_rows_

    def intervals(self, kind: IntervalKind = "affinity") -> tuple[TransferTable, ...]:
        """``(lower, median, upper)`` tables of ``kind`` at ``level`` (percentile intervals)."""
        reps, rows = self._replicates_of(kind)
        alpha = (1.0 - float(self.level)) / 2.0
        out: list[dict[Transfer, float]] = [{}, {}, {}]
        for target, rep in reps.items():
            q = np.quantile(rep, [alpha, 0.5, 1.0 - alpha], axis=0)  # (3, n)
            for d, row in zip(out, q, strict=True):
                d.update(zip(rows[target], row.tolist(), strict=True))
        return tuple(TransferTable(d, cast(TableKind, kind)) for d in out)

    def replicate_table(self, r: int) -> TransferTable:
        """The affinity table of replicate ``r`` (0 ≤ r < n_replicates)."""
        reps, rows = self._replicates_of("affinity")
        if not 0 <= r < len(next(iter(reps.values()))):
            raise input_error("replicate", r, f"0 ≤ r < {self.n_replicates}")
        return TransferTable(
            {
                tr: float(v)
                for t, rep in reps.items()
                for tr, v in zip(rows[t], rep[r], strict=True)
            },
            "affinity",
        )

    def ci_csv_text(self, kind: IntervalKind = "affinity") -> str:
        """The ``affinities_ci.csv`` text (module docstring) for ``kind``."""
        lower, median, upper = self.intervals(kind)
        pt = self.affinity_ if kind == "affinity" else self.wins_[cast(WinKind, kind)]
        buf = io.StringIO()
        buf.write(f"{CI_HEADER}\n# kind: {kind}\n# level: {self.level!r}\n")
        buf.write(f"# replicates: {self.n_replicates}\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["target", "sources", "value", "lower", "median", "upper"])
        for tr in sorted(lower):
            vals = (pt[tr], lower[tr], median[tr], upper[tr])
            w.writerow([tr.target, "+".join(tr.sources), *(repr(v) for v in vals)])
        return buf.getvalue()

    def write_ci_csv(self, path: str | os.PathLike[str], kind: IntervalKind = "affinity") -> None:
        """Write :meth:`ci_csv_text` atomically (e.g. ``tables/affinities_ci.csv``)."""
        atomic_write_text(path, self.ci_csv_text(kind))


def read_ci_csv_text(text: str, origin: str = "<text>") -> dict[str, TransferTable]:
    """Parse :meth:`AffinityBootstrap.ci_csv_text` into tables keyed value, lower, median, upper."""
    kind = "affinity"
    lines = []
    for line in text.splitlines():
        body = line.strip()
        if body.startswith("#"):
            if body[1:].strip().startswith("kind:"):
                kind = body[1:].strip().split(":", 1)[1].strip()
        elif body:
            lines.append(line)
    if kind not in ("affinity", *_REFERENCE):
        raise input_error(f"{origin}: kind", kind, one_of(["affinity", *_REFERENCE]))
    reader = csv.reader(lines)
    cols = ["value", "lower", "median", "upper"]
    if next(reader, None) != ["target", "sources", *cols]:
        raise input_error(
            f"{origin}: CSV header", lines[:1], "'target,sources,value,lower,median,upper'"
        )
    out: dict[str, dict[Transfer, float]] = {c: {} for c in cols}
    for lineno, row in enumerate(reader, start=2):
        try:
            nums = [float(x) for x in row[2:]]
        except ValueError:
            nums = []
        if len(row) != 6 or len(nums) != 4 or not all(math.isfinite(x) for x in nums):
            raise input_error(f"{origin}: row {lineno}", row, "target,sources and 4 finite numbers")
        tr = Transfer.of(row[1].split("+"), row[0])
        for c, x in zip(cols, nums, strict=True):
            out[c][tr] = x
    return {c: TransferTable(v, cast(TableKind, kind)) for c, v in out.items()}


Objective = Literal["mean", "lcb"]


def objective_table(boot: AffinityBootstrap, objective: Objective = "mean") -> TransferTable:
    """The affinity table the BIP should maximize for ``objective``; pass it to ``solve``.

    * ``"mean"`` (today's objective): the point estimates ``boot.affinity_`` (AHP on all
      the data), so the BIP maximizes ``Σ_t r_t · p_e(t)``.
    * ``"lcb"``: the lower percentile bounds ``boot.lower_`` (the ``(1 − level)/2``
      quantile of each transfer's replicate affinities), so the BIP maximizes
      ``Σ_t r_t · L_e(t)``: a transfer is credited with the affinity it reaches in all but
      the worst ``(1 − level)/2`` share of replicates. Each ``L_e`` is a marginal lower
      bound; by the union bound all chosen edges reach their ``L_e`` at once with
      probability ≥ ``1 − T·(1 − level)/2`` (T targets), so the maximized sum is a
      conservative proxy for the policy's true objective, and an edge whose affinity is
      high but poorly determined (few images, unstable seeds) loses to a slightly lower,
      well-determined one. Lower bounds of one target no longer sum to 1; the BIP does not
      need them to.
    """
    if not hasattr(boot, "affinity_"):
        raise TaskonomyError("AffinityBootstrap is not fitted yet: call fit(losses) first.")
    if objective == "mean":
        return boot.affinity_
    if objective == "lcb":
        return boot.lower_
    raise input_error("objective", objective, one_of(["mean", "lcb"]))

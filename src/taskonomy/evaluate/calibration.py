"""How well estimated affinities rank transfers like measured ones (``taskonomy estimate``).

For one estimated table against the run's measured affinities: Spearman's rank correlation
per target and pooled over every (target, transfer) pair both tables hold (``self`` and
``pixels`` edges left out: no transfer is trained for them), each with a percentile
bootstrap interval over those pairs (seeded, vectorized).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.seeds import derived_seed

POOLED = "pooled"


@dataclass(frozen=True)
class Calibration:
    """One row: an estimator's rank agreement with the measured affinities on ``target``
    (or :data:`POOLED`), over ``n`` transfers; NaN where fewer than 3 transfers or a
    constant column leave Spearman undefined."""

    target: str
    n: int
    spearman: float
    ci_low: float
    ci_high: float


def _rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman of each row pair of ``a`` and ``b`` (R, n): Pearson of average ranks."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / den, np.nan)


def spearman_ci(
    est: np.ndarray, meas: np.ndarray, *, replicates: int, level: float, seed: int
) -> tuple[float, float, float]:
    """(Spearman, low, high): percentile bootstrap over the pairs (replicates whose
    resample is constant are left out of the interval)."""
    n = est.shape[0]
    if n < 3:
        return float("nan"), float("nan"), float("nan")
    rho = float(_rowwise_spearman(est[None], meas[None])[0])
    if replicates <= 0:
        return rho, float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, n, size=(replicates, n))
    boots = _rowwise_spearman(est[idx], meas[idx])
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return rho, float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(boots, [tail, 100 - tail])
    return rho, float(lo), float(hi)


def paired_values(
    estimated: TransferTable, measured: TransferTable, target: str | None = None
) -> tuple[list[Transfer], np.ndarray, np.ndarray]:
    """Transfers both tables hold (into ``target``, or any), with (estimated, measured)."""
    trs = [
        tr
        for tr in measured
        if tr in estimated
        and not set(tr.sources) & {"self", "pixels"}
        and (target is None or tr.target == target)
    ]
    trs.sort()
    est = np.array([estimated[tr] for tr in trs], dtype=np.float64)
    meas = np.array([measured[tr] for tr in trs], dtype=np.float64)
    return trs, est, meas


def calibrate(
    estimated: TransferTable,
    measured: TransferTable,
    *,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> list[Calibration]:
    """Per target (in the measured table's order), then :data:`POOLED`."""
    rows = []
    for target in [*measured.targets(), None]:
        name = target or POOLED
        _, est, meas = paired_values(estimated, measured, target)
        rng_seed = derived_seed(seed, "calibration-bootstrap", name)
        rho, lo, hi = spearman_ci(est, meas, replicates=replicates, level=level, seed=rng_seed)
        rows.append(Calibration(name, int(est.shape[0]), rho, lo, hi))
    return rows

"""The Analytic Hierarchy Process of Taskonomy: from per-image test losses to affinities.

For one target with ``n`` candidate transfers (every order, plus ``self`` and ``random``)
evaluated on ``m`` test images:

1. Tournament ``W[i, j]`` = share of images on which transfer ``i`` beats ``j``
   (lower loss wins). Ties: with ``ties="half"`` (default) a tie counts half a win to
   each side, so ``W + Wᵀ = 1`` and ``W[i, i] = 0.5``; ``ties="loss"`` counts a tie as
   a loss for both (strict ``<``, as a plain comparison in the paper's code would).
2. Clip ``W`` to ``[clip_low, clip_high]`` (paper: [0.001, 0.999]) so ratios stay finite.
3. ``W' = W / Wᵀ`` element-wise: a reciprocal pairwise-comparison matrix.
4. The affinity is the principal (Perron) eigenvector of ``W'``, normalized to sum 1.

Only comparisons of losses enter, so the result is invariant under any strictly
increasing transform of the losses. Saaty's consistency ratio CR = CI / RI with
CI = (λ_max − n)/(n − 1) is reported per target; note that RI was tabulated for Saaty's
1/9…9 scale, and W' spans 1/999…999, so CR here is a relative diagnostic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Self

import numpy as np

from taskonomy.affinity.table import TableKind, Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error

Ties = Literal["half", "loss"]

# Saaty's random consistency index for n = 1..15 (Saaty 1980).
_SAATY_RI = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59)


def random_index(n: int) -> float:
    """Saaty's RI for ``n ≤ 15``; beyond, the Alonso–Lamata fit λ̄ ≈ 2.7699 n − 4.3513."""
    if n <= len(_SAATY_RI):
        return _SAATY_RI[n - 1]
    return (1.7699 * n - 4.3513) / (n - 1)


def _check_losses(losses: np.ndarray, what: str = "losses") -> np.ndarray:
    arr = np.asarray(losses, dtype=np.float64)
    if arr.ndim != 2:
        raise input_error(
            f"{what} shape", arr.shape, "2-D (transfers, test_images)", "One row per transfer."
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise input_error(f"{what} shape", arr.shape, "at least 1 transfer and 1 image")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise input_error(
            f"{what}[{bad[0]}, {bad[1]}]",
            float(arr[bad[0], bad[1]]),
            "finite numbers",
            "A NaN/inf loss usually means a diverged transfer: retrain or drop it.",
        )
    return arr


def tournament(losses: np.ndarray, ties: Ties = "half") -> np.ndarray:
    """``W[i, j]`` = share of images where row ``i``'s loss is below row ``j``'s.

    losses: (n, m) per-image losses → W: (n, n).
    """
    arr = _check_losses(losses)
    if ties not in ("half", "loss"):
        raise input_error("ties", ties, "'half' or 'loss'")
    a = arr[:, None, :]  # (n, 1, m)
    b = arr[None, :, :]  # (1, n, m)
    wins = (a < b).mean(axis=2)  # (n, n)
    if ties == "half":
        wins = wins + 0.5 * (a == b).mean(axis=2)
    return wins


def win_rate(losses_a: np.ndarray, losses_b: np.ndarray, ties: Ties = "half") -> float:
    """Share of images where ``a`` beats ``b`` (both shaped (m,))."""
    a = np.asarray(losses_a, dtype=np.float64)
    b = np.asarray(losses_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise input_error("win_rate shapes", (a.shape, b.shape), "two equal 1-D shapes (m,)")
    return float(tournament(np.stack([a, b]), ties)[0, 1])


class AHP:
    """Affinities of one target's transfers from their per-image test losses.

    >>> import numpy as np
    >>> ahp = AHP().fit(np.array([[0.1, 0.2], [0.3, 0.4]]))
    >>> ahp.wins_.tolist()
    [[0.5, 1.0], [0.0, 0.5]]
    """

    def __init__(self, clip: tuple[float, float] = (0.001, 0.999), ties: Ties = "half") -> None:
        self.clip = clip
        self.ties = ties

    def fit(self, losses: np.ndarray, names: Sequence[str] | None = None) -> Self:
        """losses: (n_transfers, n_images), lower is better."""
        lo, hi = self.clip
        if not (0.0 < lo <= 0.5 <= hi < 1.0):
            raise input_error("clip", self.clip, "0 < low ≤ 0.5 ≤ high < 1, e.g. (0.001, 0.999)")
        arr = _check_losses(losses)
        n = arr.shape[0]
        if names is not None and len(names) != n:
            raise input_error("number of names", len(names), f"one per transfer ({n})")
        self.wins_ = tournament(arr, self.ties)  # (n, n)
        clipped = np.clip(self.wins_, lo, hi)
        self.ratio_ = clipped / clipped.T  # (n, n), positive and reciprocal
        eigvals, eigvecs = np.linalg.eig(self.ratio_)
        k = int(np.argmax(eigvals.real))
        vec = np.abs(eigvecs[:, k].real)  # Perron vector of a positive matrix has one sign
        self.affinity_ = vec / vec.sum()
        self.eigenvalue_ = float(eigvals[k].real)
        self.consistency_index_ = (self.eigenvalue_ - n) / (n - 1) if n > 1 else 0.0
        ri = random_index(n)
        self.consistency_ratio_ = self.consistency_index_ / ri if ri > 0 else 0.0
        self.names_ = list(names) if names is not None else [str(i) for i in range(n)]
        return self


def affinity_table(
    losses: Mapping[str, tuple[Sequence[Transfer], np.ndarray]],
    clip: tuple[float, float] = (0.001, 0.999),
    ties: Ties = "half",
) -> tuple[TransferTable, dict[str, float]]:
    """Run one AHP per target.

    losses: target → (transfers into it, per-image losses of shape (len(transfers), m)).
    Returns the affinity table and each target's consistency ratio.
    """
    values: dict[Transfer, float] = {}
    consistency: dict[str, float] = {}
    for target, (transfers, arr) in losses.items():
        if any(tr.target != target for tr in transfers):
            raise TaskonomyError(f"transfers listed under target {target!r} must all end in it.")
        ahp = AHP(clip, ties).fit(arr, [str(t) for t in transfers])
        values.update(zip(transfers, ahp.affinity_.tolist(), strict=True))
        consistency[target] = ahp.consistency_ratio_
    return TransferTable(values, "affinity"), consistency


def win_rate_table(
    losses: Mapping[str, tuple[Sequence[Transfer], np.ndarray]],
    reference: str,
    kind: TableKind,
    ties: Ties = "half",
) -> TransferTable:
    """Win rate of every transfer against the reference transfer (``self`` or ``pixels``).

    The reference row must be among each target's transfers.
    """
    values: dict[Transfer, float] = {}
    for target, (transfers, arr) in losses.items():
        ref = Transfer((reference,), target)
        if ref not in transfers:
            raise input_error(
                f"transfers into {target!r}", "no " + str(ref), f"a {reference!r} row"
            )
        arr = _check_losses(arr)
        ref_row = arr[list(transfers).index(ref)]
        for i, tr in enumerate(transfers):
            values[tr] = win_rate(arr[i], ref_row, ties)
    return TransferTable(values, kind)

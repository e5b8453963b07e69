"""Diagnostics of one run: does its affinity table carry signal? (``tables/diagnostics.json``)

Everything here is computed from per-image test losses and tables the run already has:

* **sanity**: each task network's win rate against the loss-optimal constant (``guess``)
  and against the ``random``-encoder transfer; goal ≥ :data:`WIN_GOAL` of the images each;
  networks whose early stopping kept step 0 (their initialization) are listed.
* per target: the **representation spread** ``(loss(random) − loss(best)) / loss(random)``
  (mean test losses; ``best`` the best first-order non-self transfer): how much the
  choice of source matters at all; whether the target's **own network** is its best
  first-order source; the AHP **consistency ratio**; the transfers that lose to the
  guess on average (flagged by :mod:`taskonomy.affinity.noise`); and a **within-noise**
  verdict: the best transfer is not significantly better than ``random`` or than the
  guess (paired one-sided Wilcoxon signed-rank test on per-image losses, ``p ≥ alpha``).
* **family agreement** of the task-similarity tree: :func:`adjusted_rand_index` of its
  clusters against the registry's families, and :func:`separation_auc` = P(a same-family
  pair is closer than a cross-family pair).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import comb

from taskonomy.affinity.noise import loses_to_guess
from taskonomy.affinity.table import Transfer
from taskonomy.errors import input_error

WIN_GOAL = 0.6  # share of test images a network should beat each baseline on
ALPHA = 0.05  # significance level of the within-noise test


def adjusted_rand_index(a: Sequence[object], b: Sequence[object]) -> float:
    """Hubert–Arabie adjusted Rand index of two labelings of the same items (1: identical
    partitions, ~0: chance). Two trivial partitions (all one cluster) score 1."""
    if len(a) != len(b):
        raise input_error("labelings", (len(a), len(b)), "two labelings of equal length")
    _, ia = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, ib = np.unique(np.asarray(b, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))  # contingency (A, B)
    np.add.at(table, (ia, ib), 1)
    pairs = comb(table, 2).sum()
    rows, cols = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum()
    expected = rows * cols / comb(len(a), 2) if len(a) > 1 else 0.0
    top = (rows + cols) / 2
    if top == expected:
        return 1.0
    return float((pairs - expected) / (top - expected))


def separation_auc(dist: np.ndarray, labels: Sequence[object]) -> float | None:
    """P(same-family distance < cross-family distance), ties half (Mann–Whitney AUC);
    ``None`` without both kinds of pairs. ``dist`` (S, S) symmetric, ``labels`` (S,)."""
    lab = np.asarray(labels, dtype=object)
    iu = np.triu_indices(len(lab), k=1)
    d = np.asarray(dist, dtype=np.float64)[iu]
    same = lab[iu[0]] == lab[iu[1]]
    if same.all() or not same.any():
        return None
    u = stats.mannwhitneyu(d[~same], d[same], alternative="two-sided").statistic
    return float(u / (same.sum() * (~same).sum()))


def paired_p(better: np.ndarray, worse: np.ndarray) -> float:
    """One-sided Wilcoxon p of "``better`` has lower per-image losses than ``worse``"."""
    d = np.asarray(worse, dtype=np.float64) - np.asarray(better, dtype=np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, alternative="greater").pvalue)


def target_diagnostics(
    target: str,
    transfers: Sequence[Transfer],
    losses: np.ndarray,
    guess: np.ndarray,
    consistency: float | None = None,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """One target's entry: spread, own-best, flagged transfers, within-noise verdict.

    ``transfers``/``losses`` (n, m): every transfer into ``target`` (``self`` and
    ``random`` rows included, as the tournament sees them); ``guess`` (m,).
    """
    arr = np.asarray(losses, dtype=np.float64)
    means = arr.mean(axis=1)
    idx = {tr: i for i, tr in enumerate(transfers)}
    first = [tr for tr in transfers if tr.order == 1 and tr.sources[0] not in ("self", "random")]
    out: dict[str, Any] = {"target": target, "consistency_ratio": consistency}
    flagged = loses_to_guess(arr, guess)
    out["loses_to_guess"] = [
        "+".join(tr.sources) for tr, f in zip(transfers, flagged, strict=True) if f
    ]
    if not first:
        return out
    best = min(first, key=lambda tr: means[idx[tr]])
    b = arr[idx[best]]
    out["best_source"] = best.sources[0]
    out["best_loss"] = float(means[idx[best]])
    out["guess_loss"] = float(np.mean(guess))
    out["own_network_best"] = best.sources[0] == target
    out["p_best_vs_guess"] = paired_p(b, guess)
    rnd = Transfer(("random",), target)
    if rnd in idx:
        r = arr[idx[rnd]]
        out["random_loss"] = float(r.mean())
        out["spread"] = float((r.mean() - b.mean()) / r.mean()) if r.mean() > 0 else None
        out["p_best_vs_random"] = paired_p(b, r)
    ps = [out[k] for k in ("p_best_vs_guess", "p_best_vs_random") if k in out]
    out["within_noise"] = any(p >= alpha for p in ps)
    return out


def sanity_diagnostics(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sanity rows (task, win_vs_guess, win_vs_random, best_step) with goal checks."""
    out = []
    for r in rows:
        wg, wr = r.get("win_vs_guess"), r.get("win_vs_random")
        out.append({
            **r, "goal": WIN_GOAL,
            "meets_goal": (wg is not None and wg >= WIN_GOAL)
            and (wr is None or wr >= WIN_GOAL),
            "step0": r.get("best_step") == 0,
        })  # fmt: skip
    return out


def warnings_of(diag: Mapping[str, Any]) -> list[str]:
    """Plain one-line warnings from a diagnostics record (sanity, targets)."""
    lines = []
    for r in diag.get("sanity", []):
        if r.get("step0"):
            lines.append(f"{r['task']}: early stopping kept step 0, the network learned nothing")
        elif not r.get("meets_goal"):
            lines.append(
                f"{r['task']}: beats the guess on {r.get('win_vs_guess', 0):.0%} of images "
                f"(random: {_pct(r.get('win_vs_random'))}; goal {WIN_GOAL:.0%} each)"
            )
    for t in diag.get("targets", []):
        if t.get("within_noise"):
            lines.append(
                f"{t['target']}: affinities are within noise: its best transfer "
                f"({t.get('best_source')}) is not significantly better than random/the guess"
            )
        elif t.get("loses_to_guess"):
            lines.append(f"{t['target']}: {len(t['loses_to_guess'])} transfers lose to the guess")
    return lines


def _pct(x: object) -> str:
    return f"{x:.0%}" if isinstance(x, float) else "n/a"


def summarize(
    sanity: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    family: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole ``diagnostics.json`` record."""
    san = sanity_diagnostics(sanity)
    diag: dict[str, Any] = {
        "win_goal": WIN_GOAL,
        "alpha": ALPHA,
        "sanity": san,
        "step0_networks": [r["task"] for r in san if r["step0"]],
        "targets": list(targets),
        "own_network_best_count": sum(bool(t.get("own_network_best")) for t in targets),
        "targets_within_noise": [t["target"] for t in targets if t.get("within_noise")],
        "family": dict(family or {}),
    }
    diag["warnings"] = warnings_of(diag)
    return diag

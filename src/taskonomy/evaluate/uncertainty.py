"""How sure is the taxonomy? Glue from per-image losses to intervals, stability and significance.

The numerical pieces live below: :class:`~taskonomy.affinity.bootstrap.AffinityBootstrap`
(intervals), :class:`~taskonomy.taxonomy.stability.TaxonomyStability` (BIP re-solved per
replicate) and :mod:`taskonomy.evaluate.significance`. This module turns them into the JSON
records the pipeline (``taxonomies/*.json``, ``tables/significance.json``), ``taskonomy solve
--json``, the report and the solver page share, and owns the per-image loss file:

``tables/per_image_losses.npz`` (numpy ``savez``, read with ``allow_pickle=False``): for every
target ``t`` two arrays, ``labels/<t>`` (the row labels: ``"a+b"`` source sets, ``self``,
``random``, ``pixels``; unicode) and ``losses/<t>`` ((rows, N) or (rows, S, N) float64).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from taskonomy.affinity.bootstrap import AffinityBootstrap, Objective, objective_table
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate.significance import PairedTest, PolicySignificance, best_vs_baselines
from taskonomy.io import atomic_write_bytes
from taskonomy.rundir import PER_IMAGE_LOSSES_NPZ, RunFiles
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import PlanRequest
from taskonomy.taxonomy.stability import TaxonomyStability, edge_of, policy_key

PerImageLosses = dict[str, dict[str, np.ndarray]]
"""``target → {row label → (N,) or (S, N) losses}`` (the input of AffinityBootstrap.fit)."""


# ---- the per-image loss file ---------------------------------------------------------------
def save_per_image_losses(
    path: str | os.PathLike[str], losses: Mapping[str, Mapping[str, Any]]
) -> None:
    """Write ``target → {label → losses}`` atomically in the npz layout of the module docstring."""
    arrays: dict[str, np.ndarray] = {}
    for target, rows in losses.items():
        labels = list(rows)
        arrays[f"labels/{target}"] = np.array(labels, dtype=str)
        arrays[f"losses/{target}"] = np.stack(
            [np.asarray(rows[k], dtype=np.float64) for k in labels]
        )
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def load_per_image_losses(path: str | os.PathLike[str]) -> PerImageLosses:
    """Read :func:`save_per_image_losses`' file; only plain arrays are accepted (no pickles)."""
    p = Path(path)
    allowed = "a per_image_losses.npz written by `taskonomy run`"
    try:
        with np.load(p, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise input_error("per-image losses", str(p), "an existing .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise input_error(
            f"{p}: per-image losses", f"an unreadable file ({exc})", allowed
        ) from None
    out: PerImageLosses = {}
    for key, labels in data.items():
        kind, _, target = key.partition("/")
        if kind != "labels":
            continue
        arr = data.get(f"losses/{target}")
        if arr is None or labels.ndim != 1 or arr.ndim not in (2, 3) or len(arr) != len(labels):
            raise input_error(f"{p}: arrays of {target!r}", key, allowed)
        out[target] = {str(lab): arr[i] for i, lab in enumerate(labels)}
    if not out:
        raise input_error(f"{p}: per-image losses", "no labels/<target> arrays", allowed)
    return out


def losses_beside(affinity_path: str | os.PathLike[str]) -> Path | None:
    """The ``per_image_losses.npz`` beside an affinity table (a run's ``tables/``), if any."""
    p = Path(affinity_path)
    folder = p if p.is_dir() else p.parent
    for cand in (folder / PER_IMAGE_LOSSES_NPZ, RunFiles(folder).per_image_losses):
        if cand.is_file():
            return cand
    return None


def bootstrap(
    losses: Mapping[str, Mapping[str, Any]],
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> AffinityBootstrap:
    """Fit the bootstrap on per-image losses (labels with ``pixels`` feed only win rates)."""
    return AffinityBootstrap(n_replicates=replicates, level=level, seed=seed).fit(losses)  # type: ignore[arg-type]


def objective_affinities(
    table: TransferTable, objective: Objective, boot: AffinityBootstrap | None
) -> TransferTable:
    """The table the BIP maximizes: ``table`` for ``mean``, the lower bounds for ``lcb``."""
    if objective == "mean":
        return table
    if boot is None:
        raise TaskonomyError(
            "objective 'lcb' needs per-image losses (tables/per_image_losses.npz of a run, or "
            "--losses PATH); this table has none. Use --objective mean."
        )
    return objective_table(boot, "lcb")


# ---- JSON records ----------------------------------------------------------------------------
def _label(tr: Transfer) -> str:
    return "+".join(tr.sources)


def stability_record(stab: TaxonomyStability) -> dict[str, Any]:
    """The ``stability`` object of a taxonomy JSON (and of ``solve --json``).

    ``replicate_optima`` lists every distinct replicate optimum with its ``count`` and
    ``ties_reported`` (of those replicates, how many the reported policy also solves
    optimally: a tie, see :mod:`taskonomy.taxonomy.stability`), so the
    ``optimum_probability`` can be recomputed from the record itself
    (:func:`optimum_share`); ``exact_optimum_probability`` ignores ties.
    """
    pol = stab.policy_
    edges = {e.target: f for e, f in stab.edge_frequency_.items()}
    keys = [policy_key(p) for p in stab.replicate_policies_]
    tied = Counter(k for k, t in zip(keys, stab.ties_reported_, strict=True) if t)
    optima = []
    for key, count in stab.policy_counts_.most_common():
        scratch, choices = key
        optima.append(
            {
                "count": count,
                "ties_reported": tied[key],
                "scratch": list(scratch),
                "policy": {t: {"kind": k, "sources": list(s)} for t, k, s in choices},
            }
        )
    return {
        "replicates": stab.n_replicates_,
        "optimum_probability": stab.optimum_probability_,
        "exact_optimum_probability": stab.exact_optimum_probability_,
        "scratch_frequency": dict(stab.scratch_frequency_),
        "other_scratch_frequency": dict(stab.other_scratch_frequency_),
        "edge_frequency": {
            t: {"sources": _label(edge_of(c)), "frequency": edges[t]}
            for t, c in pol.choices.items()
        },
        "replicate_optima": optima,
    }


def optimum_share(record: Mapping[str, Any], policy: Policy | None = None) -> float:
    """The ``optimum_probability`` recomputed from ``record['replicate_optima']``: the share of
    replicates the reported policy solves optimally. With ``policy``, only replicates whose
    optimum *is* ``policy`` count (the exact probability)."""
    key = None if policy is None else policy_key(policy)
    hit = 0
    for opt in record["replicate_optima"]:
        if key is None:
            hit += int(opt["ties_reported"])
            continue
        choices = tuple(
            sorted((t, c["kind"], tuple(c["sources"])) for t, c in opt["policy"].items())
        )
        if (tuple(sorted(opt["scratch"])), choices) == key:
            hit += int(opt["count"])
    return hit / int(record["replicates"])


def interval_record(boot: AffinityBootstrap, policy: Policy) -> dict[str, dict[str, float | str]]:
    """Per chosen edge: its affinity interval ``{sources, value, lower, median, upper}``."""
    out: dict[str, dict[str, float | str]] = {}
    for t, c in policy.choices.items():
        e = edge_of(c)
        if e not in boot.lower_:
            continue
        out[t] = {
            "sources": _label(e),
            "value": boot.affinity_[e],
            "lower": boot.lower_[e],
            "median": boot.median_[e],
            "upper": boot.upper_[e],
        }
    return out


def policy_uncertainty(
    policy: Policy,
    table: TransferTable,
    boot: AffinityBootstrap,
    *,
    stability_replicates: int = 200,
    solver_kw: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"stability": …, "intervals": …}`` of a solved policy (replicate optima maximize the
    replicate affinities; the policy itself may come from another objective)."""
    stab = TaxonomyStability(
        policy.budget, policy.max_order, n_replicates=stability_replicates, solver_kw=solver_kw
    ).fit(table, boot, policy=policy)
    return {
        "level": float(boot.level),
        "stability": stability_record(stab),
        "intervals": interval_record(boot, policy),
    }


def policy_significance(
    policy: Policy,
    table: TransferTable,
    winrates: tuple[TransferTable, TransferTable],
    *,
    n_samples: int = 1000,
    seed: int = 0,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """Gain and Quality of ``policy`` against random feasible policies of its budget."""
    sig = PolicySignificance(n_samples=n_samples, seed=seed, sources=sources).fit(
        policy, table, *winrates
    )
    return {"gain": asdict(sig.gain_), "quality": asdict(sig.quality_)}


def paired_rows(tests: list[PairedTest]) -> list[dict[str, Any]]:
    """:func:`best_vs_baselines` results as JSON rows (transfers as ``a+b`` labels)."""
    return [{**asdict(t), "best": _label(t.best), "baseline": _label(t.baseline)} for t in tests]


def significance_summary(rows: list[dict[str, Any]], baseline: str = "random") -> dict[str, Any]:
    """How many targets' best transfer is significantly better than ``baseline``."""
    sel = [r for r in rows if r["baseline"] == baseline]
    n_sig = sum(1 for r in sel if r["significant"])
    return {
        "baseline": baseline,
        "targets": len(sel),
        "significant": n_sig,
        "share": n_sig / len(sel) if sel else None,
    }


def baseline_tests(losses: Mapping[str, Mapping[str, Any]], level: float = 0.95) -> dict[str, Any]:
    """Per target: best transfer vs ``random`` and ``pixels`` (rows + summaries)."""
    rows = paired_rows(best_vs_baselines(losses, level=level))  # type: ignore[arg-type]
    return {
        "level": level,
        "rows": rows,
        "summary": [significance_summary(rows, b) for b in ("random", "pixels")],
    }


def plan_with_uncertainty(
    table: TransferTable,
    request: PlanRequest,
    winrates: tuple[TransferTable, TransferTable] | None,
    boot: AffinityBootstrap | None,
    *,
    stability_replicates: int = 200,
) -> tuple[Policy, dict[str, Any]]:
    """Solve ``request`` on ``table`` (or on its lower bounds for ``objective: lcb``).

    With a bootstrap ``boot`` of the table's per-image losses the second value holds
    ``objective_kind`` and ``uncertainty`` (stability and intervals); without, it is empty
    (and ``lcb`` is refused with a one-line error). Shared by ``taskonomy solve`` and the
    solver page.
    """
    from taskonomy.evaluate.plan import plan

    solve_on = objective_affinities(table, request.objective, boot)
    policy = plan(solve_on, request, winrates=winrates)
    if boot is None:
        return policy, {}
    kw = request.plan_kwargs()
    kw.pop("budget")
    kw.pop("max_order")
    extra = {
        "objective_kind": request.objective,
        "uncertainty": policy_uncertainty(
            policy, table, boot, stability_replicates=stability_replicates, solver_kw=kw
        ),
    }
    return policy, extra

"""The pipeline's uncertainty step (issue 13): after the taxonomies, how sure are they?

From the per-image test losses the run measured (persisted as
``tables/per_image_losses.npz``): bootstrap intervals of every affinity
(``tables/affinities_ci.csv``), per taxonomy the BIP re-solved on each replicate and the
taxonomy against random feasible policies (an ``uncertainty`` and a ``significance`` object
added to ``taxonomies/*.json``), and per target the best transfer against ``random`` and
``pixels`` (``tables/significance.json``). A run of several seeds
(:mod:`taskonomy.pipeline.seeds`) does the same at its top level on every seed's losses
stacked (:func:`stack_seeds`), resampling seeds as well as test images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.uncertainty import (
    PerImageLosses,
    baseline_tests,
    bootstrap,
    policy_significance,
    policy_uncertainty,
    save_per_image_losses,
)
from taskonomy.io import atomic_write_text
from taskonomy.pipeline.config import RunConfig
from taskonomy.rundir import RunFiles
from taskonomy.taxonomy.policy import Policy


def per_image_losses(
    with_pixels: dict[str, tuple[list[Transfer], np.ndarray]],
) -> dict[str, dict[str, np.ndarray]]:
    """``target → (transfers, (n, N) losses)`` as ``target → {"a+b" → (N,) losses}``."""
    return {
        t: {"+".join(tr.sources): row for tr, row in zip(trs, losses, strict=True)}
        for t, (trs, losses) in with_pixels.items()
    }


def measure_uncertainty(
    files: RunFiles,
    cfg: RunConfig,
    with_pixels: dict[str, tuple[list[Transfer], np.ndarray]],
    affinities: TransferTable,
    winrates: tuple[TransferTable, TransferTable],
    taxonomies: dict[str, dict[str, Any]],
    solver_kw: dict[str, Any],
) -> dict[str, Any]:
    """Write the uncertainty tables and add ``uncertainty``/``significance`` to ``taxonomies``.

    ``solver_kw``: the BIP's targets/sources, so replicate optima solve the same problem.
    Returns the ``tables/significance.json`` object.
    """
    losses = per_image_losses(with_pixels)
    save_per_image_losses(files.per_image_losses, losses)
    return uncertainty_of(files, cfg, losses, affinities, winrates, taxonomies, solver_kw)


def stack_seeds(per_seed: Sequence[PerImageLosses]) -> PerImageLosses:
    """Per-seed loss files → ``target → {label → (S, N)}`` over the rows every seed has.

    The seeds share one data job, so their test images are the same, in the same order.
    """
    out: PerImageLosses = {}
    for target, rows in per_seed[0].items():
        common = [lab for lab in rows if all(lab in p.get(target, {}) for p in per_seed)]
        if common:
            out[target] = {lab: np.stack([p[target][lab] for p in per_seed]) for lab in common}
    return out


def uncertainty_of(
    files: RunFiles,
    cfg: RunConfig,
    losses: PerImageLosses,
    affinities: TransferTable,
    winrates: tuple[TransferTable, TransferTable],
    taxonomies: dict[str, dict[str, Any]],
    solver_kw: dict[str, Any],
) -> dict[str, Any]:
    """:func:`measure_uncertainty` from per-image losses already at hand: ``(N,)`` rows for
    one seed, ``(S, N)`` for several (then seeds are resampled too: a two-level bootstrap)."""
    uc = cfg.uncertainty
    if not uc.enabled:
        return {}
    boot = bootstrap(losses, uc.replicates, uc.level, seed=cfg.seed)
    boot.write_ci_csv(files.affinities_ci_csv)
    trainable = sorted(set(solver_kw.get("sources") or []) | set(solver_kw.get("targets") or []))
    for name, record in taxonomies.items():
        if "error" in record:
            continue
        policy = Policy.from_json(record)
        record["uncertainty"] = policy_uncertainty(
            policy, affinities, boot, stability_replicates=uc.stability_replicates,
            solver_kw=solver_kw,
        )  # fmt: skip
        try:
            record["significance"] = policy_significance(
                policy, affinities, winrates, n_samples=uc.random_policies, seed=cfg.seed,
                sources=trainable or None,
            )  # fmt: skip
        except TaskonomyError as exc:  # e.g. no feasible random policy: say why, keep going
            record["significance"] = {"error": str(exc)}
        atomic_write_text(files.taxonomy_json(name), json.dumps(record, indent=1) + "\n")
    tests = baseline_tests(losses, uc.level)
    atomic_write_text(files.significance_json, json.dumps(tests, indent=1) + "\n")
    return tests

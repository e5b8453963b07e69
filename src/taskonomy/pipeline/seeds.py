"""Several training seeds of one config: ``taskonomy run --seeds 0,1`` (config ``seeds``).

Each seed is a full run whose tables, taxonomies and diagnostics go to
``<run>/seeds/<seed>/``; all seeds keep their jobs in the top-level ``<run>/jobs/``, and the
data job's seed stays the config's ``data_seed`` (default ``seed``), so they share one
image bank and differ only in the training seeds (network and transfer initialization,
minibatch order). The top level then gets:

* ``tables/``: the first seed's tables, and with ``taxonomy.plan_from: mean`` an
  ``affinities.csv`` holding the mean of the per-seed affinities of the transfers every
  seed measured, renormalized to sum 1 per target;
* ``taxonomies/``: the BIP solved on that table (win rates for Gain/Quality: the first
  seed's);
* ``tables/diagnostics.json``: the first seed's diagnostics plus ``seeds``: their agreement,
  the Spearman correlation of first-order affinities (pooled over all transfers, and the
  median over targets), averaged over seed pairs, and per taxonomy the Jaccard index of the
  tasks trained from scratch, averaged over seed pairs;
* the uncertainty of the top-level taxonomies from every seed's per-image losses stacked
  (``tables/per_image_losses.npz`` with ``(S, N)`` rows): the bootstrap resamples seeds and
  test images (``tables/affinities_ci.csv``, each taxonomy's ``uncertainty`` and
  ``significance``, ``tables/significance.json``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.evaluate.uncertainty import load_per_image_losses, save_per_image_losses
from taskonomy.io import atomic_write_text
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import RunConfig, dump_config
from taskonomy.pipeline.executors import Executor, InProcessExecutor
from taskonomy.pipeline.progress import Progress
from taskonomy.pipeline.uncertainty import stack_seeds, uncertainty_of
from taskonomy.rundir import SEEDS, TABLES, TAXONOMIES, RunFiles


def mean_affinities(tables: Sequence[TransferTable]) -> TransferTable:
    """Mean of per-seed affinities over the transfers in every table, renormalized so each
    target's values sum to 1 (as AHP's do)."""
    common = set(tables[0]).intersection(*tables[1:])
    mean = {tr: float(np.mean([t[tr] for t in tables])) for tr in common}
    totals: dict[str, float] = {}
    for tr, v in mean.items():
        totals[tr.target] = totals.get(tr.target, 0.0) + v
    return TransferTable({tr: v / totals[tr.target] for tr, v in mean.items()}, "affinity")


def _first_order(table: TransferTable) -> dict[Transfer, float]:
    return {tr: table[tr] for tr in table if tr.order == 1}


def affinity_agreement(a: TransferTable, b: TransferTable) -> dict[str, float | None]:
    """Spearman of the first-order affinities both tables have: pooled, and per-target median."""
    fa, fb = _first_order(a), _first_order(b)
    common = sorted(set(fa) & set(fb))
    pooled = stats.spearmanr([fa[t] for t in common], [fb[t] for t in common]).statistic
    per = []
    for target in sorted({t.target for t in common}):
        trs = [t for t in common if t.target == target]
        if len(trs) >= 3:
            rho = stats.spearmanr([fa[t] for t in trs], [fb[t] for t in trs]).statistic
            if np.isfinite(rho):
                per.append(float(rho))
    return {
        "spearman_pooled": float(pooled) if np.isfinite(pooled) else None,
        "spearman_target_median": float(np.median(per)) if per else None,
    }


def jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1 for two empty sets)."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def seed_agreement(
    seeds: Sequence[int], tables: Sequence[TransferTable], taxonomies: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The ``seeds`` block of diagnostics.json: agreement averaged over seed pairs."""
    pairs = list(combinations(range(len(seeds)), 2))
    out: dict[str, Any] = {"seeds": list(seeds), "spearman_pooled": None,
                           "spearman_target_median": None, "jaccard": {}}  # fmt: skip
    if not pairs:
        return out
    agree = [affinity_agreement(tables[i], tables[j]) for i, j in pairs]
    for key in ("spearman_pooled", "spearman_target_median"):
        vals = [v for a in agree if (v := a[key]) is not None]
        out[key] = float(np.mean(vals)) if vals else None
    for name in taxonomies[0]:
        scratch = [tx.get(name, {}).get("scratch") for tx in taxonomies]
        if all(s is not None for s in scratch):
            out["jaccard"][name] = float(np.mean([jaccard(scratch[i], scratch[j])
                                                  for i, j in pairs]))  # fmt: skip
    return out


def _seed_ceilings(cfg: RunConfig, results: Sequence[Any]) -> None:
    """Append to each seed's estimates_vs_measured.csv the other seeds' measured
    affinities ranked against its own (``measured_seed_<j>`` rows): the estimators'
    ceiling, what measuring again gives."""
    from taskonomy.pipeline.estimate import seed_rows

    assert cfg.seeds
    for seed, r in zip(cfg.seeds, results, strict=True):
        path = RunFiles(r.run_dir).estimates_vs_measured_csv
        if not path.is_file():
            continue
        others = {s: o.affinities for s, o in zip(cfg.seeds, results, strict=True) if s != seed}
        text = path.read_text(encoding="utf-8") + seed_rows(r.affinities, others, seed=seed)
        atomic_write_text(path, text)


def run_seeds(
    cfg: RunConfig,
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> Any:
    """Run ``cfg`` once per seed of ``cfg.seeds`` and combine (see the module docstring)."""
    from taskonomy.pipeline.run import Plan, _run_pipeline, _taxonomies

    assert cfg.seeds
    root = RunDir(out)
    root.ensure()
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    results = []
    for seed in cfg.seeds:
        # Each seed runs in the top-level run (one jobs folder: its data job is shared);
        # its outputs are then moved to seeds/<seed>/.
        one = cfg.model_copy(update={"seed": seed, "seeds": None, "data_seed": data_seed})
        result = _run_pipeline(one, root.root, executor or InProcessExecutor(), progress)
        dest = root.sub(SEEDS) / str(seed)
        for name in (TABLES, TAXONOMIES):
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.move(root.root / name, dest / name)
        shutil.move(root.config_path, dest / "config.yaml")
        result.run_dir = dest
        results.append(result)
    atomic_write_text(root.config_path, dump_config(cfg))
    if cfg.transfer.estimate and len(results) > 1:
        _seed_ceilings(cfg, results)
    first = results[0]
    # The top level: the first seed's tables, then the planned table and its taxonomies.
    shutil.copytree(first.run_dir / TABLES, root.sub(TABLES), dirs_exist_ok=True)
    tables = [r.affinities for r in results]
    planned = mean_affinities(tables) if cfg.taxonomy.plan_from == "mean" else first.affinities
    planned.write_csv(root.table_path("affinity"))
    plan = Plan(cfg)
    winrates = (first.wins_vs_pixels, first.wins_vs_self)
    taxonomies = _taxonomies(root, plan, planned, winrates)
    files = RunFiles(root.root)
    per_seed = [load_per_image_losses(RunFiles(r.run_dir).per_image_losses) for r in results]
    stacked = stack_seeds(per_seed)
    save_per_image_losses(files.per_image_losses, stacked)
    uncertainty_of(files, cfg, stacked, planned, winrates, taxonomies,
                   {"targets": plan.targets, "sources": plan.sources})  # fmt: skip
    diag = json.loads(root.diagnostics_json.read_text(encoding="utf-8"))
    diag["seeds"] = {**seed_agreement(cfg.seeds, tables, [r.taxonomies for r in results]),
                     "plan_from": cfg.taxonomy.plan_from}  # fmt: skip
    atomic_write_text(root.diagnostics_json, json.dumps(diag, indent=1) + "\n")
    first.run_dir, first.affinities, first.taxonomies = root.root, planned, taxonomies
    for r in results[1:]:
        first.reports.extend(r.reports)
    return first

"""``taskonomy run``: from an image bank to a taxonomy, as a graph of resumable jobs.

Stages: data → task networks (+ ``pixels`` baselines) → sanity check → frozen encoders →
first-order transfers → higher orders (the paper's selection from the first-order
ranking) → AHP affinities and win-rate tables → BIP taxonomies → novel-task report.
Every job is content-addressed (``taskonomy.pipeline.jobs``), so rerunning on the same
directory skips what is finished.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taskonomy.affinity.ahp import AHP, affinity_table, win_rate, win_rate_table
from taskonomy.affinity.noise import guard_losses
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.data.taskonomy_layout import layout_fingerprint
from taskonomy.errors import TaskonomyError
from taskonomy.io import atomic_write_text
from taskonomy.nn.decoders import is_dense
from taskonomy.pipeline import (
    diagnose,
    stages,  # also registers the job kinds
)
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import RunConfig, dump_config
from taskonomy.pipeline.execution import exported, for_run
from taskonomy.pipeline.executors import Executor, InProcessExecutor
from taskonomy.pipeline.jobs import Job, RunReport, run_jobs
from taskonomy.pipeline.progress import NullProgress, Progress
from taskonomy.pipeline.uncertainty import measure_uncertainty
from taskonomy.rundir import TABLES, TAXONOMIES
from taskonomy.tasks import get_task, is_free_source
from taskonomy.transfer.orders import higher_order_sources, rank_sources
from taskonomy.transfer.outside import file_digest, outside_encoder

# Bump when a job kind's output changes meaning: finished artifacts are then recomputed.
# 2: decoders end in a transposed conv; transfers early-stop on held-out scenes.
# 3: seeds derived from the run's seed, a role and names only (taskonomy.seeds).
# 4: the guess is the loss-optimal constant (train/constant.py): init and guess_losses.
VERSION = "4"
# the fingerprint param (Taskonomy layouts) changes those keys anyway; 2: the synthetic
# principal_curvature label at the pixel scale (creases), so old banks are not reused
DATA_VERSION = "2"
# Config keys that change no transfer's result: kept out of the jobs' keys.
TRANSFER_NOT_PARAMS = {"estimate", "selection", "active"}


@dataclass
class SanityRow:
    task: str
    test_loss: float
    guess_loss: float
    win_vs_guess: float
    win_vs_random: float | None
    best_step: int | None = None  # the step the network kept; 0: it learned nothing


@dataclass
class RunResult:
    run_dir: Path
    affinities: TransferTable
    wins_vs_self: TransferTable
    wins_vs_pixels: TransferTable
    sanity: list[SanityRow]
    taxonomies: dict[str, dict[str, Any]]
    novel: dict[str, list[dict[str, Any]]]
    reports: list[RunReport] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    consistency: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # diagnostics' plain warnings


# Scheduling weight of one set of a dense transfer job trained one set at a time (CPU,
# many-channel maps such as segment_semantic's logits) against a stacked one (1.0).
UNSTACKED_DENSE_COST = 2.2


def _stacked_on_cpu(cfg: RunConfig, target: str) -> bool:
    """Whether ``target``'s transfer groups train stacked on a CPU (the cost hint only:
    on a GPU every group is stacked, and hints never change a job's key or result)."""
    from taskonomy.transfer.stacked import use_stacked  # torch: only when planning transfers

    return use_stacked(cfg.transfer.stacked, target, cfg.data.size)


class Plan:
    """The job graph of one config (built stage by stage: higher orders need results)."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.novel = list(cfg.novel)
        self.networks = [t for t in cfg.tasks if get_task(t).head is not None]
        self.targets = [t for t in self.networks if get_task(t).role == "task"]
        self.sources = [t for t in self.networks if t not in self.novel]
        if "random" in cfg.tasks:
            self.sources.append("random")
        # Outside encoders: source-only like random, with an encode job of their own.
        self.outside = {o.name: o for o in cfg.sources}
        self.sources.extend(self.outside)
        # The weights' content enters the encode keys: a changed file is encoded again.
        self._digests = {n: file_digest(o.weights) for n, o in self.outside.items()}
        d = cfg.data
        data: dict[str, Any] = {
            "source": d.source, "path": d.path, "scenes": d.scenes, "views": d.views,
            "size": d.size, "splits": d.splits,
            "seed": cfg.seed if cfg.data_seed is None else cfg.data_seed,
        }  # fmt: skip
        if d.source == "taskonomy":
            assert d.path is not None  # DataConfig requires it for this source
            data["fingerprint"] = layout_fingerprint(d.path)
        # only when set, so that existing runs keep their job keys
        data.update(d.model_dump(include={"z_max", "curvature_scale"}, exclude_none=True))
        if d.on_missing != "error":
            data["on_missing"] = d.on_missing
        self.data = Job("data", data, name="data", version=DATA_VERSION)
        th = self.threads = cfg.threads_per_job
        # output_stride in the key only when not 16: existing runs keep their job keys
        model = cfg.model.model_dump(
            exclude=None if cfg.model.output_stride != 16 else {"output_stride"}
        )
        common: dict[str, Any] = {"model": model, "seed": cfg.seed}
        if cfg.precision != "fp32":  # in the key only when used: fp32 keys stay as they were
            common["precision"] = cfg.precision
        # Costs are scheduling hints (heaviest first): steps × a rough per-step weight.
        # A task's own schedule (`train.tasks` overrides) is its key: others keep theirs.
        train = {t: cfg.train.for_task(t) for t in self.networks}
        pixels = {t: cfg.pixels.for_task(t) for t in self.targets}
        self.train = {
            t: Job("train", {**common, "task": t, "train": train[t].model_dump()},
                   (self.data,), f"train {t}", VERSION, cost=3.0 * train[t].steps, threads=th)
            for t in self.networks
        }  # fmt: skip
        self.pixels = {
            t: Job("pixels", {**common, "task": t, "train": pixels[t].model_dump()},
                   (self.data,), f"pixels {t}", VERSION, cost=1.0 * pixels[t].steps, threads=th)
            for t in self.targets
        }  # fmt: skip
        self._common = common

    def encode(self, source: str, input_key: str) -> Job:
        deps = (self.data,) if is_free_source(source) else (self.data, self.train[source])
        params: dict[str, Any] = {**self._common, "source": source, "input": input_key}
        if source in self.outside:
            o = self.outside[source]
            params["outside"] = {
                "architecture": o.architecture, "weights": o.weights, "layer": o.layer,
                "mean": list(o.mean), "std": list(o.std), "digest": self._digests[source],
            }  # fmt: skip
        name = f"encode {source} ({input_key})"
        return Job("encode", params, deps, name, VERSION, threads=self.threads)

    def transfers(
        self, source_sets: Sequence[Sequence[str]], target: str, steps: int | None = None
    ) -> Job:
        """One job for a group of same-order transfers into ``target``; ``steps`` other
        than ``transfer.steps``: a probe of active selection (its own schedule and key)."""
        sets = sorted(sorted(s) for s in source_sets)
        spec = get_task(target)
        input_key = spec.input
        used = sorted({s for srcs in sets for s in srcs})
        deps = (self.data, *(self.encode(s, input_key) for s in used))
        transfer = self.cfg.transfer.model_dump(exclude=TRANSFER_NOT_PARAMS)
        if steps is not None:
            transfer["steps"] = steps
        params = {**self._common, "sources": sets, "target": target, "transfer": transfer}
        name = f"transfers order {len(sets[0])} (×{len(sets)}) -> {target}"
        if steps is not None and steps != self.cfg.transfer.steps:
            name += f" [{steps} steps]"
        cost = self.transfer_cost(target) * len(sets) * transfer["steps"]
        return Job("transfer", params, deps, name, VERSION, cost=cost, threads=self.threads)

    def transfer_cost(self, target: str) -> float:
        """A rough cost of one transfer step into ``target`` (dense decoders dominate)."""
        spec = get_task(target)
        if spec.head is None or not is_dense(spec.head.decoder):
            return 0.2  # pooled
        if not _stacked_on_cpu(self.cfg, target):
            # Per-pixel logits train one set at a time on a CPU: ~2.2x a stacked dense
            # group's seconds (quick preset, stride 8: 36.9 s vs 15-20 s). Without it the
            # heaviest transfer job started last and one worker idled ~20 s at the stage end.
            return UNSTACKED_DENSE_COST
        return 1.0

    def group(self, source_sets: Sequence[Sequence[str]], target: str) -> dict[Transfer, Job]:
        """Jobs for ``source_sets`` into ``target``: one per order (trained stacked)."""
        by_order: dict[int, list[Sequence[str]]] = {}
        for srcs in source_sets:
            by_order.setdefault(len(srcs), []).append(srcs)
        out = {}
        for sets in by_order.values():
            job = self.transfers(sets, target)
            out.update({Transfer.of(srcs, target): job for srcs in sets})
        return out

    def first_order(self) -> dict[Transfer, Job]:
        out: dict[Transfer, Job] = {}
        for t in self.targets:
            out.update(self.group([[s] for s in self.sources], t))
        return out


class JobLosses:
    """Per-image test losses from finished job folders, each folder read once per run.

    A network job holds (N_test,); a transfer group holds (M, N_test) with its source sets
    in ``transfers.json``. Finished folders never change, so caching them is safe.
    """

    def __init__(self, rd: RunDir) -> None:
        self.rd = rd
        self._cache: dict[str, tuple[np.ndarray, list[tuple[str, ...]]]] = {}

    def __call__(self, job: Job, transfer: Transfer | None = None) -> np.ndarray:
        if job.key not in self._cache:
            folder = self.rd.job_dir(job.kind, job.key)
            groups = folder / "transfers.json"
            sets = [tuple(x) for x in json.loads(groups.read_text())] if groups.is_file() else []
            self._cache[job.key] = (np.load(folder / "test_losses.npy"), sets)
        losses, sets = self._cache[job.key]
        return losses if transfer is None else losses[sets.index(transfer.sources)]


def _target_rows(
    losses: JobLosses, plan: Plan, target: str, transfers: dict[Transfer, Job]
) -> tuple[list[Transfer], np.ndarray]:
    trs = [tr for tr in transfers if tr.target == target]
    rows = [losses(transfers[tr], tr) for tr in trs]
    trs.append(Transfer(("self",), target))
    rows.append(losses(plan.train[target]))
    return trs, np.stack(rows)  # (n, N_test)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def run_pipeline(
    cfg: RunConfig,
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run (or resume) the whole pipeline into ``out``; returns the measured tables.

    One writer per run directory: a second concurrent run into ``out`` is refused.
    With ``cfg.seeds``, one run per seed, outputs under ``out/seeds/<seed>/`` (shared jobs
    and data; :mod:`taskonomy.pipeline.seeds`), all under the one lock.
    """
    ex = executor or InProcessExecutor()
    check_outside_sources(cfg)  # architecture, weights and layer: before anything is written
    # The device is an execution setting handed to the jobs outside their keys; checked
    # (cuda without CUDA) before anything is written.
    settings = for_run(cfg.device, cfg.channels_last, ex)
    with RunDir(out).locked(), exported(settings):
        if cfg.seeds:
            from taskonomy.pipeline.seeds import run_seeds

            return run_seeds(cfg, out, executor=ex, progress=progress)
        return _run_pipeline(cfg, out, ex, progress)


def check_outside_sources(cfg: RunConfig) -> None:
    """Build every outside encoder once (weights loaded, layer found, one image encoded), so
    that a wrong architecture, file or layer is a one-line error before the run starts."""
    if not cfg.sources:
        return
    import torch

    _, h, w = stages.architecture(cfg.model).representation_shape(cfg.data.size)
    for o in cfg.sources:
        enc = outside_encoder(o.name, o.architecture, o.weights, o.layer, o.mean, o.std, (h, w))
        if cfg.data.source != "synthetic":  # an imported layout's image size is known later
            continue
        try:
            enc(torch.zeros(1, 3, cfg.data.size, cfg.data.size))
        except (RuntimeError, ValueError) as exc:  # TaskonomyError (a ValueError) as it is
            if isinstance(exc, TaskonomyError):
                raise
            raise TaskonomyError(
                f"outside source {o.name!r}: encoding one {cfg.data.size}² image failed "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); expected the "
                "architecture to take the bank's images. Check the architecture and layer."
            ) from None


def _run_pipeline(
    cfg: RunConfig, out: str | os.PathLike[str], ex: Executor, progress: Progress | None
) -> RunResult:
    rd = RunDir(out)
    rd.ensure()
    atomic_write_text(rd.config_path, dump_config(cfg))
    prog = progress or NullProgress()
    plan = Plan(cfg)
    reports: list[RunReport] = []
    seconds: dict[str, float] = {}

    def stage(name: str, jobs: Sequence[Job], executor: Executor = ex) -> None:
        t0 = time.perf_counter()
        reports.append(run_jobs(jobs, rd, executor, prog, stage=name))
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    # The data job uses every core itself, so it runs alone in this process.
    stage("data", [plan.data], InProcessExecutor())
    stage("task networks", [*plan.train.values(), *plan.pixels.values()])
    losses_of = JobLosses(rd)
    sanity = _sanity_guess(rd, plan, losses_of)

    if cfg.transfer.selection == "active":
        from taskonomy.pipeline.active import select_transfers

        t0 = time.perf_counter()
        guesses = {t: diagnose.guess_losses(rd, plan.train[t].key) for t in plan.targets}
        transfers = select_transfers(plan, rd, losses_of, stage, guesses)
        seconds["active selection"] = time.perf_counter() - t0
    else:
        transfers = _all_transfers(rd, plan, losses_of, stage, seconds)

    t0 = time.perf_counter()
    result = _measure(rd, plan, transfers, sanity, losses_of)
    result.reports, result.seconds = reports, seconds
    seconds["measure + taxonomy"] = time.perf_counter() - t0
    if cfg.transfer.estimate:
        from taskonomy.pipeline.estimate import estimate_run_dir

        t0 = time.perf_counter()
        estimate_run_dir(rd, cfg)
        seconds["estimate"] = time.perf_counter() - t0
    return result


def _all_transfers(
    rd: RunDir,
    plan: Plan,
    losses_of: JobLosses,
    stage: Callable[[str, Sequence[Job]], None],
    seconds: dict[str, float],
) -> dict[Transfer, Job]:
    """``transfer.selection: all``: every first-order transfer, then the higher orders the
    first-order ranking selects, all fully trained."""
    cfg = plan.cfg
    first = plan.first_order()
    stage("transfers (order 1)", list(dict.fromkeys(first.values())))
    t0 = time.perf_counter()
    higher: dict[Transfer, Job] = {}
    for target in plan.targets:
        trs, losses = _target_rows(losses_of, plan, target, first)
        losses = guard_losses(losses, diagnose.guess_losses(rd, plan.train[target].key))[0]
        aff = AHP().fit(losses).affinity_
        scores = {
            tr.sources[0]: float(a)
            for tr, a in zip(trs, aff, strict=True)
            if tr.order == 1 and tr.sources[0] not in (target, "random", "self")
        }
        sets = higher_order_sources(rank_sources(scores), cfg.transfer.max_order)
        if sets:
            higher.update(plan.group(sets, target))
    seconds["ranking"] = time.perf_counter() - t0
    stage(f"transfers (orders 2-{cfg.transfer.max_order})", list(dict.fromkeys(higher.values())))
    return {**first, **higher}


def _sanity_guess(rd: RunDir, plan: Plan, losses_of: JobLosses) -> list[SanityRow]:
    rows, failed = [], []
    for task, job in plan.train.items():
        net = losses_of(job)
        guess = diagnose.guess_losses(rd, job.key)
        w = win_rate(net, guess)
        step = diagnose.best_step(rd, job.key)
        rows.append(SanityRow(task, float(net.mean()), float(guess.mean()), w, None, step))
        if w <= 0.5:
            failed.append(f"{task} (win rate {w:.2f})")
        elif step == 0:  # early stopping kept the initialization: the guess itself
            failed.append(f"{task} (kept step 0)")
    if failed and plan.cfg.sanity == "stop":
        raise TaskonomyError(
            "sanity check failed: these task networks do not beat the loss-optimal constant "
            f"guess on the test split: {', '.join(failed)}. Train longer (train.steps), use more "
            f"scenes (data.scenes) or larger images; logs are in {rd.logs_dir}. "
            "(Set `sanity: warn` to continue anyway.)"
        )
    return rows


def _measure(
    rd: RunDir,
    plan: Plan,
    transfers: dict[Transfer, Job],
    sanity: list[SanityRow],
    losses_of: JobLosses,
) -> RunResult:
    rd.sub(TABLES)
    per_target: dict[str, tuple[list[Transfer], np.ndarray]] = {}
    with_pixels: dict[str, tuple[list[Transfer], np.ndarray]] = {}
    for target in plan.targets:
        trs, losses = _target_rows(losses_of, plan, target, transfers)
        per_target[target] = (trs, losses)
        pix = losses_of(plan.pixels[target])
        with_pixels[target] = ([*trs, Transfer(("pixels",), target)], np.vstack([losses, pix]))
    guesses = {t: diagnose.guess_losses(rd, plan.train[t].key) for t in plan.targets}
    affinities, consistency = affinity_table(diagnose.guarded(per_target, guesses))
    diagnose.write_effects(rd, per_target, guesses)
    # Gain/Quality under the constant-guess rule: a transfer that loses to the guess on
    # average loses every image to a self/pixels network that does not.
    guarded = diagnose.guarded(with_pixels, guesses)
    vs_self = win_rate_table(guarded, "self", "wins_vs_self")
    vs_pixels = win_rate_table(guarded, "pixels", "wins_vs_pixels")
    # Mean test loss per transfer (with self and pixels): the raw material of AHP, for the
    # report's "before AHP" heatmap (loss ratios). Written in the table text format.
    mean_losses = {
        tr: float(row.mean())
        for trs, losses in with_pixels.values()
        for tr, row in zip(trs, losses, strict=True)
    }
    for table in (TransferTable(mean_losses, "mean_test_loss"), affinities, vs_self, vs_pixels):
        table.write_csv(rd.table_path(table.kind))

    # Sanity table (the paper's Table 1): vs the guess and vs the random-encoder transfer.
    for row in sanity:
        rnd = transfers.get(Transfer(("random",), row.task))
        if rnd is not None and row.task in plan.targets:
            rnd_losses = losses_of(rnd, Transfer(("random",), row.task))
            row.win_vs_random = win_rate(losses_of(plan.train[row.task]), rnd_losses)
    atomic_write_text(
        rd.sanity_csv,
        _csv_text(
            ["task", "test_loss", "guess_loss", "win_vs_guess", "win_vs_random", "best_step"],
            [[r.task, r.test_loss, r.guess_loss, r.win_vs_guess, r.win_vs_random, r.best_step]
             for r in sanity],
        ),
    )  # fmt: skip

    diag = diagnose.write_diagnostics(rd, per_target, guesses, [asdict(r) for r in sanity],
                                      consistency, affinities)  # fmt: skip

    taxonomies = _taxonomies(rd, plan, affinities, (vs_pixels, vs_self))
    # Issue 13: intervals, taxonomy stability and significance from the per-image losses.
    # The tournament's losses (constant-guess rule applied, flags from the whole test set),
    # so that the bootstrap's point estimates are exactly the affinities above.
    measure_uncertainty(rd, plan.cfg, guarded, affinities, (vs_pixels, vs_self), taxonomies,
                        {"targets": plan.targets, "sources": plan.sources})  # fmt: skip
    novel = _novel(rd, plan, transfers, taxonomies, losses_of)
    return RunResult(rd.root, affinities, vs_self, vs_pixels, sanity, taxonomies, novel,
                     consistency=consistency, warnings=diag["warnings"])  # fmt: skip


def _taxonomies(
    rd: RunDir, plan: Plan, affinities: TransferTable, winrates: tuple[TransferTable, TransferTable]
) -> dict[str, dict[str, Any]]:
    from taskonomy.evaluate.plan import plan as solve_plan

    out: dict[str, dict[str, Any]] = {}
    rd.sub(TAXONOMIES)
    for order in plan.cfg.taxonomy.orders:
        for budget in plan.cfg.taxonomy.budgets:
            name = f"budget{budget}_order{order if order is not None else 'all'}"
            try:
                pol = solve_plan(
                    affinities, budget=budget, max_order=order, targets=plan.targets,
                    sources=plan.sources, winrates=winrates,
                )  # fmt: skip
                record: dict[str, Any] = pol.to_json()
            except TaskonomyError as exc:
                record = {"budget": budget, "max_order": order, "error": str(exc)}
            atomic_write_text(rd.taxonomy_json(name), json.dumps(record, indent=1) + "\n")
            out[name] = record
    return out


def _novel(
    rd: RunDir,
    plan: Plan,
    transfers: dict[Transfer, Job],
    taxonomies: dict[str, dict[str, Any]],
    losses_of: JobLosses,
) -> dict[str, list[dict[str, Any]]]:
    """For each novel task: its transfer in every taxonomy, vs pixels, random and self."""
    out: dict[str, list[dict[str, Any]]] = {}
    for task in plan.novel:
        rows = []
        pix = losses_of(plan.pixels[task])
        selfl = losses_of(plan.train[task])
        rnd_job = transfers.get(Transfer(("random",), task))
        rnd_tr = Transfer(("random",), task)
        rnd = losses_of(rnd_job, rnd_tr) if rnd_job is not None else None
        for name, record in taxonomies.items():
            choice = record.get("policy", {}).get(task)
            if choice is None:
                continue
            tr = Transfer.of(choice["sources"], task)
            losses = losses_of(transfers[tr], tr)
            rows.append({
                "taxonomy": name, "sources": choice["sources"],
                "gain": win_rate(losses, pix), "quality": win_rate(losses, selfl),
                "win_vs_random": win_rate(losses, rnd) if rnd is not None else None,
            })  # fmt: skip
        out[task] = rows
        atomic_write_text(rd.novel_json(task), json.dumps(rows, indent=1) + "\n")
    return out

"""Affinity estimates of a run without training transfers (``taskonomy estimate``, and the
pipeline's ``transfer.estimate: true`` stage), and their calibration against the measured
affinities when the run has them.

Everything is found through the run's own owners: the config (``config.yaml``) rebuilds the
job graph (:class:`taskonomy.pipeline.run.Plan`), whose ``encode`` jobs hold the cached
frozen representations and whose ``transfer`` jobs hold the compute they used.

Per estimator (:mod:`taskonomy.transfer.estimate`) and target, every source set is scored:
each source alone (``random`` and the target itself included, as the measured table has
them), then sets of order 2..K, the union of the paper's selection from the estimator's
own first-order ranking and the sets the run measured. Orientation and scale: higher =
better source, like affinities; the ``self`` edge gets the score of the target's own
frozen encoder (the cheap stand-in for the fully supervised network); then per target
``value = (score - min) / Σ (score - min)`` over the target's sets and ``self``, so values
lie in [0, 1] and sum to 1 per target as AHP affinities do (the order is the score's).
Written as ``tables/estimated_affinities_<estimator>.csv``, table kind
``estimated_affinity``.

With measured affinities, ``tables/estimates_vs_measured.csv`` holds per estimator and
target (then ``pooled``) Spearman's rank correlation with a bootstrap interval, the scores
mapped onto the affinity scale over exactly the measured table's sets (and ``self``) so
that both sides are normalized over the same transfers
(:mod:`taskonomy.evaluate.calibration`), and the compute used: the estimator's seconds
and analytically counted FLOPs against the trained transfers' (``compute_seconds`` of
their jobs; FLOPs: 2 × multiply-adds (:func:`taskonomy.nn.encoders.count_macs`) of a
readout's forward pass × (3 × steps × batch size + test images), a lower bound that leaves
out the early-stopping validation passes). Encoding is shared by both (the caches) and
counted in neither.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from taskonomy.affinity.ahp import AHP
from taskonomy.affinity.table import Transfer, TransferTable, read_table
from taskonomy.data.bank import Bank
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate.calibration import POOLED, Calibration, calibrate
from taskonomy.io import atomic_write_text
from taskonomy.nn.encoders import count_macs
from taskonomy.nn.readout import build_transfer
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import RunConfig, load_config
from taskonomy.pipeline.jobs import Job
from taskonomy.pipeline.stages import BANK, architecture
from taskonomy.seeds import derived_seed
from taskonomy.tasks import get_task
from taskonomy.train.tensors import MASK, load_labels, sample_views, sizes_of
from taskonomy.transfer.encode import SPLITS, cached_reps, encode_split, frozen_encoder
from taskonomy.transfer.estimate import (
    Basis,
    Estimator,
    estimator_names,
    flatten_reps,
    get_estimator,
    label_matrix,
    segment_pair_matrix,
)
from taskonomy.transfer.orders import higher_order_sources, rank_sources

DEFAULT_ESTIMATORS: tuple[str, ...] = ("cka", "rsa", "dds", "ridge", "logme", "logme_probe")
CALIBRATION_HEADER = (
    "estimator", "target", "n", "spearman", "ci_low", "ci_high",
    "seconds", "flops", "transfer_seconds", "transfer_flops", "seconds_ratio", "flops_ratio",
)  # fmt: skip


@dataclass
class Compute:
    seconds: float = 0.0
    flops: float = 0.0

    def add(self, seconds: float, flops: float) -> None:
        self.seconds += seconds
        self.flops += flops


@dataclass
class EstimateResult:
    """The estimated tables by estimator, their compute (per target and in total), and the
    calibration rows (empty without measured affinities)."""

    tables: dict[str, TransferTable]
    compute: dict[str, dict[str, Compute]]  # estimator → target → compute
    transfer_compute: dict[str, Compute] = field(default_factory=dict)  # target → compute
    calibration: dict[str, list[Calibration]] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)


def parse_estimators(names: str | Sequence[str]) -> list[str]:
    """``"cka,rsa"`` or a list → known, distinct names; an unknown one fails listing all."""
    given = names.split(",") if isinstance(names, str) else list(names)
    out = [n.strip() for n in given if n.strip()]
    if not out:
        raise input_error("estimators", names, f"one or more of {', '.join(estimator_names())}")
    for n in out:
        get_estimator(n)  # raises naming the valid ones
    return list(dict.fromkeys(out))


def to_affinity_scale(scores: Mapping[Transfer, float]) -> dict[Transfer, float]:
    """One target's scores → values in [0, 1] summing to 1, same order (see module doc)."""
    lo = min(scores.values())
    shifted = {tr: v - lo for tr, v in scores.items()}
    total = sum(shifted.values())
    if not total > 0:  # every set scored alike: no preference
        return {tr: 1.0 / len(scores) for tr in scores}
    return {tr: v / total for tr, v in shifted.items()}


class _RunReader:
    """A finished run's bank, caches and records, located through its job graph."""

    def __init__(self, rd: RunDir, cfg: RunConfig) -> None:
        from taskonomy.pipeline.run import Plan

        self.rd, self.cfg, self.plan = rd, cfg, Plan(cfg)
        data = self.plan.data
        if not rd.is_finished("data", data.key):
            raise self._unfinished("the data stage")
        self.bank = Bank(rd.job_dir("data", data.key) / BANK)

    def _unfinished(self, what: str) -> TaskonomyError:
        return input_error(
            f"run directory {self.rd.root}",
            f"{what} not finished",
            "a run whose encode stage finished",
            f"Run (or resume) `taskonomy run --config {self.rd.config_path} --out "
            f"{self.rd.root}` first.",
        )

    def encode_dir(self, source: str, input_key: str) -> Path | None:
        key = self.plan.encode(source, input_key).key
        return self.rd.job_dir("encode", key) if self.rd.is_finished("encode", key) else None

    def reps(self, source: str, target: str) -> dict[str, np.ndarray]:
        folder = self.encode_dir(source, get_task(target).input)
        if folder is None:
            raise self._unfinished(f"the encode job of {source!r}")
        return {s: flatten_reps(cached_reps(self.bank, target, s, folder)) for s in SPLITS}

    def rows_key(self, target: str) -> str:
        """Which samples :meth:`reps` gives for ``target``: its input and views per split
        (targets with equal keys get equal representation rows from every source)."""
        h = hashlib.blake2b(get_task(target).input.encode(), digest_size=16)
        for split in SPLITS:
            views, _ = sample_views(self.bank, target, split)
            # the shape too: a multi-view target's view tuples can list the same views in
            # the same order as a single-view target's rows
            h.update(f"{split}{views.shape}".encode())
            h.update(np.ascontiguousarray(views, dtype=np.int64).tobytes())
        return h.hexdigest()

    def own_reps(self, target: str) -> dict[str, np.ndarray]:
        """The target network's frozen representation of its samples: the cache when the
        target is a source, else encoded now from its trained weights."""
        if target in self.plan.sources:
            return self.reps(target, target)
        job = self.plan.train[target]
        if not self.rd.is_finished("train", job.key):
            raise self._unfinished(f"the task network of {target!r}")
        arch = architecture(self.cfg.model)
        weights = self.rd.job_dir("train", job.key) / "model.safetensors"
        enc = frozen_encoder(target, arch, self.bank.size[0], weights=weights, seed=self.cfg.seed)
        out = {}
        for split in SPLITS:
            reps, order, _ = encode_split(enc, self.bank, get_task(target).input, split)
            views, _ = sample_views(self.bank, target, split)
            rows = np.searchsorted(order, views).reshape(-1)
            rep = reps.numpy()[rows].reshape(views.shape[0], -1)
            out[split] = rep.astype(np.float64)
        return out

    def labels(self, target: str) -> dict[str, np.ndarray]:
        spec = get_task(target)
        assert spec.head is not None and spec.label is not None  # targets have both
        n_classes = (
            spec.head.resolve_channels(sizes_of(self.bank)) if spec.label.dtype == "int64" else None
        )
        out = {}
        for split in SPLITS:
            lab = load_labels(self.bank, target, split)
            if spec.head.decoder == "embedding":  # arbitrary segment ids: which cells share one
                out[split] = segment_pair_matrix(lab[target])
            else:
                out[split] = label_matrix(lab[target], n_classes, lab.get(MASK))
        return out

    def transfer_jobs(self, measured: TransferTable) -> dict[str, list[Job]]:
        """The transfer jobs that measured ``measured``'s transfers, by target."""
        groups: dict[tuple[str, int], list[tuple[str, ...]]] = {}
        for tr in measured:
            if not set(tr.sources) & {"self", "pixels"}:
                groups.setdefault((tr.target, tr.order), []).append(tr.sources)
        out: dict[str, list[Job]] = {}
        for (target, _), sets in sorted(groups.items()):
            out.setdefault(target, []).append(self.plan.transfers(sets, target))
        return out

    def transfer_compute(self, measured: TransferTable) -> dict[str, Compute]:
        """Seconds (from the jobs' records) and FLOPs (counted) of the measured transfers."""
        arch = architecture(self.cfg.model)
        size = self.bank.size[0]
        c, h, w = arch.representation_shape(size)
        sizes = sizes_of(self.bank)
        tc = self.cfg.transfer
        out: dict[str, Compute] = {}
        for target, jobs in self.transfer_jobs(measured).items():
            comp = out.setdefault(target, Compute())
            n_test = int(sample_views(self.bank, target, "test")[0].shape[0])
            per_view = get_task(target).views
            for job in jobs:
                if not self.rd.is_finished("transfer", job.key):
                    raise self._unfinished(f"transfer job {job.name!r}")
                result = self.rd.read_record("transfer", job.key).get("result") or {}
                sets = job.params["sources"]
                assert isinstance(sets, list) and sets and isinstance(sets[0], list)
                order = len(sets[0])
                with torch.device("meta"):
                    ro = build_transfer(target, order, size, sizes, arch.bottleneck_channels,
                                        source_channels=order * c * per_view,
                                        decoder_width=arch.decoder_channels,
                                        output_stride=arch.output_stride)  # fmt: skip
                macs = count_macs(ro, (1, order * c * per_view, h, w))
                images = 3 * tc.steps * tc.batch_size + n_test
                comp.add(float(result.get("compute_seconds", 0.0)), 2.0 * macs * images * len(sets))
        return out


class _BasisCache:
    """Estimators' target-independent bases (:meth:`Estimator.basis`) by (estimator kind,
    source set, sample rows), least recently used dropped beyond ``max_bytes``: every
    target shares the first-order sources' factorizations, and targets that pick the same
    higher-order sets share theirs. Estimators that build a set's basis from its sources'
    parts (:meth:`Estimator.combines`) keep the parts here too, keyed per source. A basis is
    counted in the compute of the target that made it."""

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[object, ...], Basis] = OrderedDict()
        self._bytes = 0

    def get(
        self, key: tuple[object, ...], make: Callable[[], Basis | None]
    ) -> tuple[Basis | None, bool]:
        """The basis of ``key`` and whether it was made now."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key], False
        basis = make()
        if basis is None:
            return None, True
        self._items[key] = basis
        self._bytes += basis.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return basis, True


def _score_sets(
    make: Callable[[], Estimator],
    reps: Mapping[str, Mapping[str, np.ndarray]],
    labels: Mapping[str, np.ndarray],
    sets: Sequence[tuple[str, ...]],
    comp: Compute,
    losses: dict[tuple[str, ...], np.ndarray] | None = None,
    bases: tuple[_BasisCache, str] | None = None,
) -> dict[tuple[str, ...], float]:
    """Each set's score; its per-image losses into ``losses`` when the estimator has them.
    ``bases``: the run's basis cache and the target's sample-rows key, to share the
    estimator's target-independent work across targets."""
    out = {}
    for srcs in sets:
        x = {s: np.hstack([reps[src][s] for src in srcs]) for s in SPLITS}
        t0 = time.perf_counter()
        est = make()
        basis = None
        if bases is not None:  # estimators without a basis make None: nothing is kept
            cache, rows = bases
            make_basis: Callable[[], Basis | None] = functools.partial(est.basis, x)
            if est.combines(*x["small"].shape):
                make_basis = functools.partial(_from_parts, est, reps, srcs, comp, bases)
            basis, made = cache.get((est.basis_kind(), srcs, rows), make_basis)
            if made and basis is not None:
                comp.add(0.0, basis.flops)
        est.fit(x, labels, basis)
        comp.add(time.perf_counter() - t0, est.flops_)
        key = tuple(sorted(srcs))
        out[key] = est.score_
        if losses is not None and est.losses_ is not None:
            losses[key] = est.losses_
    return out


def _from_parts(
    est: Estimator,
    reps: Mapping[str, Mapping[str, np.ndarray]],
    srcs: tuple[str, ...],
    comp: Compute,
    bases: tuple[_BasisCache, str],
) -> Basis:
    """A source set's basis combined from its sources' parts (:meth:`Estimator.part`),
    each kept in the cache for every set that contains the source."""
    cache, rows = bases
    parts = []
    for src in srcs:
        part, made = cache.get((est.basis_kind(), "part", src, rows),
                               functools.partial(est.part, reps[src]))  # fmt: skip
        assert part is not None  # an estimator that combines makes parts
        comp.add(0.0, part.flops if made else 0)
        parts.append(part)
    return est.combine(parts)


def _ahp_scale(losses: Mapping[Transfer, np.ndarray], comp: Compute) -> dict[Transfer, float]:
    """One target's affinities from per-image losses: the measured tables' AHP."""
    trs = list(losses)
    arr = np.stack([losses[tr] for tr in trs])
    t0 = time.perf_counter()
    aff = AHP().fit(arr).affinity_
    n, m = arr.shape
    comp.add(time.perf_counter() - t0, n * n * m + 30 * n**3)  # tournament + eigenvectors
    return {tr: float(a) for tr, a in zip(trs, aff, strict=True)}


def estimate_affinities(
    reader: _RunReader,
    estimators: Sequence[str],
    max_order: int,
    measured: TransferTable | None,
) -> tuple[dict[str, TransferTable], dict[str, dict[str, Compute]], dict[str, TransferTable]]:
    """Score every target's source sets with each estimator (see the module doc): the
    estimated tables, their compute, and (with ``measured``) the same scores mapped onto the
    affinity scale over exactly the measured table's sets, which calibration compares."""
    plan, seed = reader.plan, reader.cfg.seed
    tables: dict[str, dict[Transfer, float]] = {n: {} for n in estimators}
    on_measured: dict[str, dict[Transfer, float]] = {n: {} for n in estimators}
    compute: dict[str, dict[str, Compute]] = {n: {} for n in estimators}
    cache = _BasisCache()
    for target in plan.targets:
        reps = {s: reader.reps(s, target) for s in plan.sources}
        bases = (cache, reader.rows_key(target))
        aware = any(get_estimator(n).target_aware for n in estimators)
        agnostic = not all(get_estimator(n).target_aware for n in estimators)
        labels = reader.labels(target) if aware else {}
        own = reader.own_reps(target) if agnostic else {}
        measured_sets = (
            [tr.sources for tr in measured.for_target(target) if 2 <= tr.order <= max_order]
            if measured is not None
            else []
        )
        for name in estimators:
            cls = get_estimator(name)
            # RSA and DDS subsample images beyond max_images: seeded per estimator and target
            kwargs = {"seed": derived_seed(seed, "estimate", name, target)} if name in (
                "rsa", "dds") else {}  # fmt: skip
            make: Callable[[], Estimator] = functools.partial(cls, **kwargs)
            comp = compute[name].setdefault(target, Compute())
            y = labels if cls.target_aware else own
            losses: dict[tuple[str, ...], np.ndarray] = {}
            first_sets = [(s,) for s in plan.sources]
            scores = _score_sets(make, reps, y, first_sets, comp, losses, bases)
            first = {s[0]: v for s, v in scores.items() if s[0] not in (target, "random")}
            chosen = higher_order_sources(rank_sources(first), max_order) if max_order > 1 else []
            more = [s for s in dict.fromkeys([*chosen, *measured_sets]) if s not in scores]
            scores.update(_score_sets(make, reps, y, more, comp, losses, bases))
            tables[name].update(_scaled(target, scores, losses, comp))
            if measured is not None:  # on the measured table's own sets, for calibration
                keep = {tr.sources for tr in measured.for_target(target)} | {(target,)}
                kept = {s: v for s, v in scores.items() if s in keep}
                lost = {s: v for s, v in losses.items() if s in keep}
                on_measured[name].update(_scaled(target, kept, lost, comp))
    return (
        {n: TransferTable(v, "estimated_affinity") for n, v in tables.items()},
        compute,
        {n: TransferTable(v, "estimated_affinity") for n, v in on_measured.items()},
    )


def _scaled(
    target: str,
    scores: Mapping[tuple[str, ...], float],
    losses: Mapping[tuple[str, ...], np.ndarray],
    comp: Compute,
) -> dict[Transfer, float]:
    """One target's scored sets (+ ``self``) on the affinity scale (see the module doc)."""
    self_tr = Transfer(("self",), target)
    if len(losses) == len(scores) and (target,) in losses:
        by_loss = {Transfer.of(s, target): v for s, v in losses.items()}
        return _ahp_scale({**by_loss, self_tr: losses[(target,)]}, comp)
    by_tr = {Transfer.of(s, target): v for s, v in scores.items()}
    by_tr[self_tr] = scores.get((target,), max(scores.values()))
    return to_affinity_scale(by_tr)


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else repr(float(x))


def _calibration_row(name: str, row: Calibration, mine: Compute | None,
                     theirs: Compute | None) -> list[object]:  # fmt: skip
    """One line of estimates_vs_measured.csv; compute columns empty without ``mine``."""
    cal = [name, row.target, row.n, _fmt(row.spearman), _fmt(row.ci_low), _fmt(row.ci_high)]
    if mine is None or theirs is None:
        return [*cal, *[_fmt(math.nan)] * 6]
    return [*cal, _fmt(mine.seconds), _fmt(mine.flops), _fmt(theirs.seconds), _fmt(theirs.flops),
            _fmt(mine.seconds / theirs.seconds if theirs.seconds > 0 else math.nan),
            _fmt(mine.flops / theirs.flops if theirs.flops > 0 else math.nan)]  # fmt: skip


def calibration_csv(result: EstimateResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CALIBRATION_HEADER)
    for name, rows in result.calibration.items():
        per_target = result.compute[name]
        for row in rows:
            if row.target == POOLED:
                mine = _total(per_target.values())
                theirs = _total(result.transfer_compute.values())
            else:
                mine = per_target.get(row.target, Compute())
                theirs = result.transfer_compute.get(row.target, Compute())
            w.writerow(_calibration_row(name, row, mine, theirs))
    return buf.getvalue()


def seed_rows(
    own: TransferTable,
    others: Mapping[int, TransferTable],
    *,
    seed: int,
    replicates: int = 1000,
    level: float = 0.95,
) -> str:
    """Calibration rows (CSV, no header) ranking other seeds' *measured* affinities against
    ``own``: what measuring again with another training seed gives, the ceiling an
    estimator can be expected to reach on this run. Estimator ``measured_seed_<j>``; no
    compute columns (re-measuring costs the transfers once more)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for other, table in others.items():
        name = f"measured_seed_{other}"
        rows = calibrate(table, own, replicates=replicates, level=level,
                         seed=derived_seed(seed, "estimate-calibration", name))  # fmt: skip
        w.writerows(_calibration_row(name, row, None, None) for row in rows)
    return buf.getvalue()


def _total(comps: object) -> Compute:
    out = Compute()
    for c in comps:  # type: ignore[attr-defined]
        out.add(c.seconds, c.flops)
    return out


def estimate_run_dir(
    rd: RunDir,
    cfg: RunConfig,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    max_order: int | None = None,
    *,
    replicates: int = 1000,
    level: float = 0.95,
) -> EstimateResult:
    """Estimate, write the tables, and calibrate when measured affinities exist."""
    names = parse_estimators(estimators)
    k = cfg.transfer.max_order if max_order is None else max_order
    if k < 1:
        raise input_error("max order", k, "an integer >= 1")
    reader = _RunReader(rd, cfg)
    aff_path = rd.table_path("affinity")
    measured = read_table(aff_path, "affinity") if aff_path.is_file() else None
    tables, compute, on_measured = estimate_affinities(reader, names, k, measured)
    result = EstimateResult(tables, compute)
    rd.sub("tables")
    for name, table in tables.items():
        path = rd.estimated_affinities_csv(name)
        table.write_csv(path)
        result.paths.append(path)
    if measured is not None:
        result.transfer_compute = reader.transfer_compute(measured)
        for name, table in on_measured.items():
            seed = derived_seed(cfg.seed, "estimate-calibration", name)
            result.calibration[name] = calibrate(
                table, measured, replicates=replicates, level=level, seed=seed
            )
        atomic_write_text(rd.estimates_vs_measured_csv, calibration_csv(result))
        result.paths.append(rd.estimates_vs_measured_csv)
    return result


def estimate_run(
    run_dir: str | os.PathLike[str],
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    max_order: int | None = None,
    *,
    replicates: int = 1000,
    level: float = 0.95,
) -> EstimateResult:
    """:func:`estimate_run_dir` for a run directory written by ``taskonomy run``."""
    root = Path(run_dir)
    rd = RunDir(root)
    if not rd.config_path.is_file():
        raise input_error(
            "run directory",
            str(root),
            "a folder written by `taskonomy run` (with config.yaml)",
            "Pass the --out folder of a run.",
        )
    cfg = load_config(rd.config_path)
    if cfg.seeds:
        raise input_error(
            f"run directory {root}",
            f"a run over seeds {list(cfg.seeds)}",
            "a run of one seed",
            "Set `transfer: {estimate: true}` in its config and rerun it: every seed's "
            "tables (seeds/<seed>/tables/) then get their estimates.",
        )
    return estimate_run_dir(rd, cfg, estimators, max_order, replicates=replicates, level=level)

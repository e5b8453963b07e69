"""Content-addressed jobs and the engine that runs them resumably.

A :class:`Job` is plain data: ``kind`` (which registered function computes it), ``params``
(JSON: everything that determines its result: config slice, seed, task names), ``deps``
(the jobs whose artifacts it reads) and ``version`` (bump it when the function's output
changes for the same params). Its ``key`` is the SHA-256 of a canonical JSON of
``(key scheme, kind, version, params, sorted dep keys)``: the same inputs give the same key
in every process and on every machine (no Python ``hash()``), any change of a param or of
any upstream job changes it. ``name`` is only a label and does not enter the key.

Job functions are registered by kind (:func:`job_kind`) in :data:`JOB_KINDS` and receive
``(job, ctx)``; they write their artifacts into ``ctx.out_dir`` and may return a small JSON
summary that is stored in ``job.json``. Only the Job (data) and the name of the module that
registered its kind cross process boundaries; the worker imports that module and looks the
function up, so jobs carry no code and no global state (ready for Ray).

:func:`run_jobs` takes any list of jobs (their deps are added), orders them topologically,
skips the finished ones (their folder exists under its final name, see
:mod:`taskonomy.pipeline.artifacts`), runs the rest on an executor as soon as their deps are
done, and stops at the first failure with an error naming the job and its log, leaving every
finished job in place. Calling it again on the same run directory (with more jobs, e.g. the
higher-order transfers once first-order results exist) resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import json
import logging
import os
import shutil
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.pipeline.artifacts import JOB_RECORD, RunDir
from taskonomy.pipeline.executors import Executor, InProcessExecutor, cpu_count
from taskonomy.pipeline.progress import NullProgress, Progress
from taskonomy.registry import Registry

if TYPE_CHECKING:
    import numpy as np

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None

#: Version of the key scheme itself; changing it invalidates every cached job.
KEY_SCHEME = "taskonomy-job-v1"
#: Hex digits of the SHA-256 kept as the key (80 bits: collisions are not a concern).
KEY_LENGTH = 20


# -- jobs ---------------------------------------------------------------------------------
def _canonical_json(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _check_json(value: object, where: str) -> JSON:
    """A deep copy of ``value`` as plain JSON (tuples → lists), or a clear error."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise input_error(where, value, "a finite number", "NaN/inf cannot be hashed stably.")
        return float(value)
    if isinstance(value, list | tuple):
        return [_check_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, JSON] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise input_error(f"{where} key", k, "a string", "JSON object keys are strings.")
            out[k] = _check_json(v, f"{where}.{k}")
        return out
    raise input_error(
        where,
        f"{type(value).__name__} {value!r}",
        "JSON data (None, bool, int, float, str, list, dict)",
        "Convert numpy scalars/arrays and paths with int()/float()/.tolist()/str().",
    )


@dataclass(frozen=True, eq=False)
class Job:
    """One unit of work, identified by its content-addressed ``key``.

    Equality and hashing go by ``key``; a Job pickles as plain data.
    """

    kind: str
    params: Mapping[str, JSON] = field(default_factory=dict)
    deps: tuple[Job, ...] = ()
    name: str = ""
    version: str = "1"
    # Expected relative cost, a scheduling hint outside the key: ready jobs start heaviest
    # first (longest-processing-time first), so fewer workers sit idle at a stage's end.
    cost: float = 1.0
    # Math-library threads the job runs with, applied identically by every executor and part
    # of the key: a float reduction's order depends on it, so 1 and 2 threads give (slightly)
    # different weights. None: the executor's setting (generic jobs whose numbers do not
    # depend on it); the pipeline always fixes it (``threads_per_job``).
    threads: int | None = None
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind.replace("_", "").isalnum():
            raise input_error(
                "job kind", self.kind, "a name of letters, digits and '_'", "E.g. 'transfer'."
            )
        if not isinstance(self.params, Mapping):
            raise input_error("job params", type(self.params).__name__, "a mapping (dict)")
        params = _check_json(self.params, f"{self.kind} job params")
        deps = tuple(self.deps)
        for dep in deps:
            if not isinstance(dep, Job):
                raise input_error(f"{self.kind} job dependency", type(dep).__name__, "a Job", "")
        # Frozen dataclass: the normalized fields and the key are set once, here.
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "deps", deps)
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise input_error(f"{self.kind} job threads", self.threads, "an integer >= 1 or None")
        payload: dict[str, Any] = {
            "scheme": KEY_SCHEME,
            "kind": self.kind,
            "version": str(self.version),
            "params": params,
            "deps": sorted({d.key for d in deps}),
        }
        if self.threads is not None:  # absent when unset: generic jobs keep their keys
            payload["threads"] = self.threads
        digest = hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()
        object.__setattr__(self, "key", digest[:KEY_LENGTH])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Job({self.kind!r}, key={self.key!r}, name={self.name!r})"

    @property
    def label(self) -> str:
        """``name`` if given, else ``kind key-prefix``: for messages and progress."""
        return self.name or f"{self.kind} {self.key[:8]}"

    @property
    def seed(self) -> int:
        """A deterministic 32-bit seed derived from the key (same job → same seed).

        For generic jobs only: the pipeline's stages never seed from it, since any param
        change (``train.steps``) changes the key and would re-draw unrelated randomness;
        they derive their seeds from the run's seed (:mod:`taskonomy.seeds`).
        """
        return int(self.key[:8], 16)

    def describe(self) -> dict[str, Any]:
        """The JSON record of this job (as stored in ``job.json``)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "key": self.key,
            "version": self.version,
            "threads": self.threads,
            "params": self.params,
            "deps": [{"kind": d.kind, "key": d.key, "name": d.name} for d in self.deps],
        }


# -- job kinds ----------------------------------------------------------------------------
@dataclass
class JobContext:
    """What a job function gets besides its Job: where to write, what to read, how to run."""

    job: Job
    run_dir: RunDir
    out_dir: Path
    logger: logging.Logger
    threads: int

    @property
    def seed(self) -> int:
        return self.job.seed

    def rng(self) -> np.random.Generator:
        """A numpy generator seeded from the job key."""
        import numpy as np

        return np.random.default_rng(self.seed)

    def dep_dir(self, dep: Job | str) -> Path:
        """The finished folder of one of this job's dependencies (a Job or its key)."""
        key = dep.key if isinstance(dep, Job) else dep
        for d in self.job.deps:
            if d.key == key:
                return self.run_dir.job_dir(d.kind, d.key)
        raise input_error(
            f"dependency of {self.job.label}",
            key,
            one_of(f"{d.label} ({d.key})" for d in self.job.deps) if self.job.deps else "none",
            "A job may read only the artifacts of the jobs in its deps.",
        )

    def deps_of_kind(self, kind: str) -> list[Job]:
        """This job's dependencies of one kind, in the order given."""
        return [d for d in self.job.deps if d.kind == kind]


JobFn: TypeAlias = Callable[[Job, JobContext], "Mapping[str, JSON] | None"]

#: Job functions by kind. Registration happens at import of the defining module.
JOB_KINDS: Registry[JobFn] = Registry("job kind")


def job_kind(kind: str) -> Callable[[JobFn], JobFn]:
    """Register ``fn(job, ctx) -> summary | None`` as the function computing ``kind`` jobs."""
    return JOB_KINDS.decorator(kind)


def _lookup(kind: str, module: str) -> JobFn:
    if kind not in JOB_KINDS and module not in ("", "__main__", "__mp_main__"):
        importlib.import_module(module)  # a fresh worker: registering happens on import
    return JOB_KINDS.get(kind)


# -- running one job (in any process) -----------------------------------------------------
@dataclass(frozen=True)
class WorkItem:
    """What crosses to a worker: the Job, where the run lives, and where its kind is defined."""

    job: Job
    root: str
    module: str
    threads: int | None


@dataclass(frozen=True)
class JobOutcome:
    key: str
    ok: bool
    wall_s: float
    error: str = ""
    committed: bool = True


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _job_logger(job: Job, path: Path) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(f"taskonomy.job.{job.kind}.{job.key}")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # per-job file only; the console gets progress lines
    path.parent.mkdir(parents=True, exist_ok=True)
    # Logs are append-only diagnostics, not artifacts: not written atomically.
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


def execute_job(item: WorkItem) -> JobOutcome:
    """Run one job into a temp folder and commit it atomically. Never raises for job errors.

    Module-level so executors can ship it to other processes by reference.
    """
    job, run_dir = item.job, RunDir(item.root)
    if run_dir.is_finished(job.kind, job.key):
        return JobOutcome(job.key, ok=True, wall_s=0.0, committed=False)
    # The job's own thread count wins: it is part of its key (same key → same numbers).
    fixed = job.threads if job.threads is not None else item.threads
    threads = fixed if fixed is not None else cpu_count()
    restore: Callable[[], None] | None = None
    if fixed is not None:
        from taskonomy.pipeline.executors import apply_threads

        restore = apply_threads(fixed)
    log_path = run_dir.log_path(job.kind, job.key)
    logger, handler = _job_logger(job, log_path)
    tmp = run_dir.new_temp_dir(job.kind, job.key)
    started, t0 = _utc_now(), time.perf_counter()
    try:
        logger.info("start %s (%s) pid=%d threads=%d", job.label, job.key, os.getpid(), threads)
        _check_deps(job, run_dir)
        fn = _lookup(job.kind, item.module)
        ctx = JobContext(job=job, run_dir=run_dir, out_dir=tmp, logger=logger, threads=threads)
        summary = fn(job, ctx)
        wall = time.perf_counter() - t0
        record = job.describe()
        record.update(
            status="done",
            started=started,
            finished=_utc_now(),
            wall_s=round(wall, 6),
            host=socket.gethostname(),
            pid=os.getpid(),
            threads=threads,
            result=_check_json(summary, f"{job.kind} job result") if summary else None,
        )
        committed = run_dir.commit(tmp, job.kind, job.key, record)
        logger.info("done in %.3f s", wall)
        return JobOutcome(job.key, ok=True, wall_s=wall, committed=committed)
    except Exception as exc:
        wall = time.perf_counter() - t0
        logger.error("failed after %.3f s\n%s", wall, traceback.format_exc())
        shutil.rmtree(tmp, ignore_errors=True)
        return JobOutcome(job.key, ok=False, wall_s=wall, error=f"{type(exc).__name__}: {exc}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # Ctrl-C: leave no partial folder
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
        if restore is not None:
            restore()


def _check_deps(job: Job, run_dir: RunDir) -> None:
    """Fail (naming the dependency and its folder) if a dependency's artifacts were damaged
    since the run started; sizes only, a ``stat`` per file (the run start checked digests)."""
    for dep in job.deps:
        problem = run_dir.verify(dep.kind, dep.key, digests=False)
        if problem:
            raise TaskonomyError(
                f"dependency {dep.label!r} ({dep.kind} {dep.key}) in "
                f"{run_dir.job_dir(dep.kind, dep.key)}: got a corrupt artifact ({problem}); "
                f"expected the files its job.json records. Rerun: it is rebuilt."
            )


# Finished folders whose digests this process checked (job.json path, mtime): the stages of
# a pipeline run share most jobs, whose digests are then read once, their sizes each time.
_VERIFIED: set[tuple[str, int]] = set()


def _stamp(rd: RunDir, job: Job) -> tuple[str, int]:
    path = rd.job_dir(job.kind, job.key) / JOB_RECORD
    return str(path), path.stat().st_mtime_ns


def discard_corrupt(rd: RunDir, jobs: Sequence[Job]) -> list[str]:
    """Verify the finished ``jobs``; remove each corrupt one and every finished job that
    depends on it (directly or not). Returns one message per corrupt job (its folder)."""
    messages: list[str] = []
    bad: set[str] = set()
    for job in jobs:
        if not rd.is_finished(job.kind, job.key):
            continue
        stamp = _stamp(rd, job)
        # Digests once per process and folder; sizes (a stat per file) on every call.
        problem = rd.verify(job.kind, job.key, digests=stamp not in _VERIFIED)
        if problem is None:
            _VERIFIED.add(stamp)
            continue
        messages.append(
            f"job {job.label!r} ({job.kind} {job.key}) in {rd.job_dir(job.kind, job.key)} is "
            f"corrupt: {problem}; it is redone, and so are the finished jobs that depend on it."
        )
        bad.add(job.key)
    # Discarded only after every job was checked, so each damaged one is named.
    for job in jobs:
        if job.key in bad:
            rd.discard(job.kind, job.key)
    if bad:
        records = rd.finished_records()
        changed = True
        while changed:  # transitive dependents, through every finished record in the run
            changed = False
            for key, rec in list(records.items()):
                if any(d.get("key") in bad for d in rec.get("deps", [])):
                    rd.discard(str(rec.get("kind")), key)
                    bad.add(key)
                    del records[key]
                    changed = True
    for message in messages:
        _log.warning("%s", message)
    return messages


_log = logging.getLogger("taskonomy.pipeline")


# -- the engine -----------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRun:
    job: Job
    wall_s: float


@dataclass
class RunReport:
    """What one ``run_jobs`` call did: jobs executed (with wall time) and jobs skipped."""

    stage: str
    executed: list[JobRun] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def n_executed(self) -> int:
        return len(self.executed)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        return (
            f"{self.stage}: {self.n_executed} executed, {self.n_skipped} already finished, "
            f"{self.wall_s:.1f} s"
        )


def collect(jobs: Iterable[Job]) -> dict[str, Job]:
    """``jobs`` and all their transitive deps by key (duplicates merged)."""
    found: dict[str, Job] = {}
    stack = list(jobs)
    while stack:
        job = stack.pop()
        if not isinstance(job, Job):
            raise input_error("job", type(job).__name__, "a taskonomy.pipeline.Job")
        if job.key in found:
            continue
        found[job.key] = job
        stack.extend(job.deps)
    return found


def topological_order(jobs: Iterable[Job]) -> list[Job]:
    """Jobs (with their deps) so that every dep comes first; ties keep a stable key order.

    Content-addressed keys make cycles impossible to build through the constructor, but a
    cycle (e.g. from a mutated Job) is still detected and reported rather than looping.
    """
    by_key = collect(jobs)
    indegree = {k: len({d.key for d in j.deps}) for k, j in by_key.items()}
    users: dict[str, list[str]] = {k: [] for k in by_key}
    for k, j in by_key.items():
        for dk in {d.key for d in j.deps}:
            users[dk].append(k)
    ready = sorted(k for k, n in indegree.items() if n == 0)
    order: list[Job] = []
    while ready:
        k = ready.pop(0)
        order.append(by_key[k])
        for u in sorted(users[k]):
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    if len(order) != len(by_key):
        stuck = sorted(by_key[k].label for k, n in indegree.items() if n > 0)
        raise TaskonomyError(
            f"job graph: got a dependency cycle among {len(stuck)} jobs "
            f"({', '.join(stuck[:6])}{', …' if len(stuck) > 6 else ''}); expected an acyclic "
            f"graph. A job must not depend on itself, directly or through other jobs."
        )
    return order


def run_jobs(
    jobs: Sequence[Job],
    run_dir: RunDir | str | os.PathLike[str],
    executor: Executor | None = None,
    progress: Progress | None = None,
    stage: str = "jobs",
) -> RunReport:
    """Run ``jobs`` (and their deps) into ``run_dir``, skipping finished ones.

    Raises TaskonomyError naming the first failing job and its log; jobs finished before (or
    concurrently with) the failure stay committed, so a rerun resumes after them.
    """
    t_start = time.perf_counter()
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    progress = progress if progress is not None else NullProgress()
    order = topological_order(jobs)
    rd.ensure()
    rd.remove_stale_temps()
    discard_corrupt(rd, order)

    report = RunReport(stage=stage)
    done: set[str] = set()
    pending: list[Job] = []  # topological order
    for job in order:
        if rd.is_finished(job.kind, job.key):
            done.add(job.key)
            report.skipped.append(job)
        else:
            pending.append(job)
    # Fail before running anything if a kind is unknown (typo, module not imported).
    modules: dict[str, str] = {}
    for job in pending:
        if job.kind not in modules:
            try:
                fn = JOB_KINDS.get(job.kind)
            except TaskonomyError as exc:
                raise TaskonomyError(f"job {job.label!r}: {exc}") from None
            modules[job.kind] = getattr(fn, "__module__", "") or ""

    # Unfinished deps per pending job; a job is ready when its set empties.
    waiting = {j.key: {d.key for d in j.deps} - done for j in pending}
    users: dict[str, list[Job]] = {}
    for job in pending:
        for dk in waiting[job.key]:
            users.setdefault(dk, []).append(job)
    ready = [j for j in pending if not waiting[j.key]]  # topological order kept

    progress.start(stage, total=len(order), done=len(done))
    in_flight: dict[cf.Future[JobOutcome], Job] = {}
    failure: tuple[Job, str] | None = None
    own_executor = executor is None
    executor = executor if executor is not None else InProcessExecutor()
    try:
        while ready or in_flight:
            # Submit ready jobs up to the executor's parallelism, heaviest first (a stable
            # sort: equal costs keep the topological order); none after a failure.
            ready.sort(key=lambda j: -j.cost)
            while failure is None and ready and len(in_flight) < max(1, executor.max_parallel):
                job = ready.pop(0)
                item = WorkItem(job, str(rd.root), modules[job.kind], executor.threads)
                progress.job_started(job)
                in_flight[executor.submit(execute_job, item)] = job
            if not in_flight:
                break  # a failure stopped submission and nothing is left running
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                job = in_flight.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker itself died (OOM, broken pool)
                    outcome = JobOutcome(job.key, ok=False, wall_s=0.0, error=repr(exc))
                progress.job_finished(job, outcome.wall_s, outcome.ok)
                if outcome.ok:
                    done.add(job.key)
                    report.executed.append(JobRun(job, outcome.wall_s))
                    for user in users.get(job.key, []):
                        waiting[user.key].discard(job.key)
                        if not waiting[user.key]:
                            ready.append(user)
                elif failure is None:
                    failure = (job, outcome.error)
    finally:
        progress.close()
        if own_executor:
            executor.close()
    report.wall_s = time.perf_counter() - t_start
    if failure is not None:
        job, error = failure
        raise TaskonomyError(
            f"job {job.label!r} ({job.kind} {job.key}) failed: {error}. "
            f"See its log {rd.log_path(job.kind, job.key)}; {report.n_executed} jobs finished "
            f"in this call are kept, rerun on {rd.root} to resume."
        )
    return report

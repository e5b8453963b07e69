"""Executors: where a job runs. The engine decides *what* runs and *when*.

An executor only maps ``submit(fn, item) -> Future``: ``fn`` is a module-level function
(``taskonomy.pipeline.jobs.execute_job``) and ``item`` plain picklable data, so the same
call works in-process, in a local process pool and on a Ray cluster. Job results do not
depend on the executor because everything that determines a result (params, seed derived
from the job key, dependency artifacts on disk) travels with the item. The thread count
does change float results (reduction order), so a job that fixes ``Job.threads`` (every
pipeline job: ``threads_per_job``, part of its key) runs on exactly that many threads under
every executor; the executor's ``threads`` applies only to jobs that leave it unset.

- :class:`InProcessExecutor` (default): runs the job synchronously in the caller.
- :class:`ProcessPoolExecutor`: ``workers`` spawned processes (``spawn`` start method:
  safe with torch and threads); each worker limits BLAS/torch threads to
  ``max(1, cores // workers)`` for jobs without their own count, and exits when the run's
  process dies (SIGKILL included), so no orphan outlives it or commits a job. torch is
  never imported here, only configured if a job imported it.
- :class:`RayExecutor`: one Ray task per job; needs ``pip install taskonomy[ray]`` and a
  run directory on a filesystem shared by all Ray nodes.
"""

from __future__ import annotations

import concurrent.futures as cf
import concurrent.futures.process as cf_process
import multiprocessing
import os
import shutil
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from taskonomy.errors import TaskonomyError, input_error

T = TypeVar("T")
R = TypeVar("R")

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cpu_count() -> int:
    """Cores this process may use (affinity-aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def set_worker_threads(threads: int) -> None:
    """Limit math-library threads in a worker process.

    Environment variables cover libraries imported later (numpy's BLAS, torch's OpenMP);
    torch, if a job already imported it, is told directly. torch is not imported here
    because it is slow to import and a job kind may not need it.
    """
    for var in _THREAD_ENV:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` (the run) dies, whatever killed it (even SIGKILL).

    Linux: the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``). Everywhere,
    also a daemon thread that notices the re-parenting; ``os._exit`` skips cleanup on
    purpose, so an orphan never commits a job. Once the workers are gone the multiprocessing
    resource tracker sees its pipe close and exits too.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)  # a poll, not a synchronization: the kernel signal comes first
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="taskonomy-parent-watch", daemon=True).start()


def _init_worker(threads: int, parent: int) -> None:
    _die_with_parent(parent)
    set_worker_threads(threads)


def apply_threads(threads: int) -> Callable[[], None]:
    """:func:`set_worker_threads` for one job; returns a function that restores the previous
    settings, so a job run in the caller's process does not change the caller's threads."""
    env = {var: os.environ.get(var) for var in _THREAD_ENV}
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    set_worker_threads(threads)

    def restore() -> None:
        for var, value in env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch is not None and before is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)

    return restore


class Executor(ABC):
    """Runs ``fn(item)`` somewhere and returns a future of its result."""

    #: How many jobs the engine keeps in flight at once.
    max_parallel: int = 1
    #: Threads a job should use (``JobContext.threads``); None: the caller's setting.
    threads: int | None = None

    @abstractmethod
    def submit(self, fn: Callable[[T], R], item: T) -> cf.Future[R]:
        """Start ``fn(item)``; the engine waits on the returned future."""

    def close(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release workers. The caller owns the executor (``with executor: ...``) so a pool
        is reused across the ``run_jobs`` calls of successive stages."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return type(self).__name__


class InProcessExecutor(Executor):
    """Run each job in the calling process, one at a time (the default)."""

    def submit(self, fn: Callable[[T], R], item: T) -> cf.Future[R]:
        future: cf.Future[R] = cf.Future()
        try:
            future.set_result(fn(item))
        except Exception as exc:  # the engine turns it into a job failure
            future.set_exception(exc)
        return future


class ProcessPoolExecutor(Executor):
    """A local pool of ``workers`` processes; jobs are submitted as soon as their deps finish.

    The pool is created on first use and reused across ``run_jobs`` calls until ``close``.
    """

    def __init__(self, workers: int = 2, start_method: str = "spawn") -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise input_error(
                "process pool workers", workers, "an integer >= 1", "Pass e.g. --workers 2."
            )
        methods = multiprocessing.get_all_start_methods()
        if start_method not in ("spawn", "forkserver") or start_method not in methods:
            allowed = [m for m in ("spawn", "forkserver") if m in methods]
            raise input_error(
                "process start method",
                start_method,
                "one of: " + ", ".join(allowed),
                "'fork' is refused: forking a process that holds threads (torch) can deadlock.",
            )
        self.workers = workers
        self.start_method = start_method
        self.max_parallel = workers
        self.worker_threads = max(1, cpu_count() // workers)
        self.threads = self.worker_threads
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_init_worker,
                initargs=(self.worker_threads, os.getpid()),
            )
        return self._pool

    def submit(self, fn: Callable[[T], R], item: T) -> cf.Future[R]:
        return self._get_pool().submit(fn, item)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Stop now (SIGTERM, Ctrl-C, a failure): kill the workers instead of waiting for
        their jobs; a killed job leaves only a temporary folder, removed on the next run."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.join(timeout=10)
        if manager is not None:
            # The pool's manager thread sees the killed workers and closes its wake-up pipe;
            # before Python 3.12, the interpreter's exit hook could write to that pipe while
            # it was being closed (an EBADF traceback after the clean stop, seen in CI).
            # Let the thread finish first, then unregister it from the hook.
            manager.join(timeout=10)
            wakeups = getattr(cf_process, "_threads_wakeups", None)
            if wakeups is not None and not manager.is_alive():
                wakeups.pop(manager, None)

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self.terminate()
        else:
            self.close()

    def describe(self) -> str:
        return f"ProcessPoolExecutor(workers={self.workers}, threads={self.threads})"


class RayExecutor(Executor):
    """One Ray task per job (``pip install taskonomy[ray]``), on a local Ray instance or an
    existing cluster (``address``, e.g. ``ray start --head`` then ``--ray-address HOST:6379``).

    Each job asks for the resources of its kind (``gpus``/``cpus``: amounts by job kind,
    fractions allowed; GPUs only when the cluster has any, so a CPU-only cluster still
    runs every job). A task whose worker dies mid-job is retried up to ``max_retries``
    times: jobs commit their folder atomically, so a retry never sees half-written
    artifacts. The run directory must be on a filesystem every node sees; the first job
    of a run checks that on every alive node (:func:`check_shared_dir`).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_job: int = 1,
        max_parallel: int = 0,
        *,
        gpus: Mapping[str, float] | None = None,
        cpus: Mapping[str, float] | None = None,
        max_retries: int = 3,
    ) -> None:
        try:
            import ray  # lazy: an optional dependency
        except ImportError:
            raise TaskonomyError(
                "executor 'ray': got no installed ray package; expected ray>=2.9. "
                "Install it with `pip install taskonomy[ray]`, or use the in-process or "
                "process-pool executor."
            ) from None
        if num_cpus_per_job < 1:
            raise input_error("ray num_cpus_per_job", num_cpus_per_job, "an integer >= 1")
        self._ray: Any = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise input_error(
                    "ray address", address, "the address of a running Ray head (HOST:PORT)",
                    f"Start one with `ray start --head` ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}).",
                ) from None  # fmt: skip
        self.num_cpus_per_job = num_cpus_per_job
        self.threads = num_cpus_per_job
        self.gpus = dict(gpus or {})
        self.cpus = dict(cpus or {})
        self.max_retries = max_retries
        total = int(ray.cluster_resources().get("CPU", 1))
        self.max_parallel = max_parallel or max(1, total // num_cpus_per_job)
        self._remote: dict[tuple[Callable[..., Any], str], Any] = {}
        self._checked: set[str] = set()

    def cluster_gpus(self) -> float:
        """GPUs in the cluster (logical ones count: ``ray start --num-gpus``)."""
        return float(self._ray.cluster_resources().get("GPU", 0))

    def resources_of(self, kind: str) -> dict[str, float]:
        """``num_cpus``/``num_gpus`` a job of ``kind`` asks for on this cluster."""
        gpus = self.gpus.get(kind, 0.0) if self.cluster_gpus() > 0 else 0.0
        return {"num_cpus": self.cpus.get(kind, float(self.num_cpus_per_job)), "num_gpus": gpus}

    def submit(self, fn: Callable[[T], R], item: T) -> cf.Future[R]:
        root = getattr(item, "root", None)
        if root is not None and root not in self._checked:
            check_shared_dir(self._ray, root)
            self._checked.add(root)
        job = getattr(item, "job", None)
        kind = str(getattr(job, "kind", ""))
        remote = self._remote.get((fn, kind))
        if remote is None:
            remote = self._ray.remote(max_retries=self.max_retries, **self.resources_of(kind))(
                _ray_call
            )
            self._remote[(fn, kind)] = remote
        # The run's execution settings (device, …) travel with each task.
        from taskonomy.pipeline.execution import forwarded_env

        ref = remote.remote(fn, item, self.threads, forwarded_env())
        future: cf.Future[R] = ref.future()
        return future

    def describe(self) -> str:
        return f"RayExecutor(parallel={self.max_parallel}, gpus={self.gpus or 'none'})"


def _ray_call(fn: Callable[[T], R], item: T, threads: int, env: Mapping[str, str]) -> R:
    os.environ.update(env)
    set_worker_threads(threads)
    return fn(item)


PROBE_DIR = ".node-probe"


def _probe_node(root: str, token: str, node: str) -> str:
    """On one node: read the driver's probe file, write this node's. '' when fine."""
    folder = os.path.join(root, PROBE_DIR, token)
    try:
        with open(os.path.join(folder, "driver"), encoding="utf-8") as fh:
            if fh.read() != token:
                return "the driver's probe file has other content"
        with open(os.path.join(folder, f"node-{node}"), "w", encoding="utf-8") as fh:
            fh.write(token)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def check_shared_dir(ray: Any, root: str) -> None:
    """Fail clearly unless every alive Ray node sees the run directory ``root``: a task
    pinned to each node reads a probe file the driver wrote there and writes its own, which
    the driver then reads back."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    folder = os.path.join(root, PROBE_DIR, token)
    os.makedirs(folder, exist_ok=True)
    try:
        with open(os.path.join(folder, "driver"), "w", encoding="utf-8") as fh:
            fh.write(token)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        probe = ray.remote(num_cpus=0)(_probe_node)
        refs = [
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(root, token, node)
            for node in nodes
        ]
        problems = {}
        for node, msg in zip(nodes, ray.get(refs), strict=True):
            path = os.path.join(folder, f"node-{node}")
            if not msg and not os.path.isfile(path):
                msg = "its probe file did not appear on the driver's side"
            if msg:
                problems[node[:12]] = msg
    finally:
        shutil.rmtree(os.path.join(root, PROBE_DIR), ignore_errors=True)
    if problems:
        raise TaskonomyError(
            f"run directory {root}: got nodes that do not see it ({problems}); expected a "
            f"folder on a filesystem shared by every Ray node (NFS, …). Put --out on a "
            f"shared filesystem, mounted at the same path on every node."
        )


def make_executor(
    name: str = "inprocess",
    workers: int = 2,
    *,
    ray_address: str | None = None,
    resources: Any = None,
) -> Executor:
    """Build an executor by name: ``inprocess``, ``pool`` or ``ray`` (for the CLI).

    ``ray``: ``ray_address`` of an existing cluster (None: a local instance); ``resources``
    a :class:`~taskonomy.pipeline.config.ResourcesConfig` (per-kind GPUs/CPUs, retries).
    """
    if ray_address is not None and name != "ray":
        raise input_error("--ray-address", ray_address, "only with --executor ray",
                          "Add --executor ray.")  # fmt: skip
    if name == "inprocess":
        return InProcessExecutor()
    if name == "pool":
        return ProcessPoolExecutor(workers=workers)
    if name == "ray":
        if resources is None:
            return RayExecutor(ray_address)
        return RayExecutor(ray_address, gpus=resources.gpus, cpus=resources.cpus,
                           max_retries=resources.max_retries)  # fmt: skip
    raise input_error("executor", name, "one of: inprocess, pool, ray", "Pass --executor pool.")

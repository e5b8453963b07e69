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
import multiprocessing
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
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
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.join(timeout=10)

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self.terminate()
        else:
            self.close()

    def describe(self) -> str:
        return f"ProcessPoolExecutor(workers={self.workers}, threads={self.threads})"


class RayExecutor(Executor):
    """One Ray task per job (``pip install taskonomy[ray]``).

    The run directory must be on a filesystem every Ray node sees, and the modules that
    register the job kinds must be importable on every node.
    """

    def __init__(
        self, address: str | None = None, num_cpus_per_job: int = 1, max_parallel: int = 0
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
            ray.init(address=address)
        self.num_cpus_per_job = num_cpus_per_job
        self.threads = num_cpus_per_job
        total = int(ray.cluster_resources().get("CPU", 1))
        self.max_parallel = max_parallel or max(1, total // num_cpus_per_job)
        self._remote: dict[Callable[..., Any], Any] = {}

    def submit(self, fn: Callable[[T], R], item: T) -> cf.Future[R]:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._ray.remote(num_cpus=self.num_cpus_per_job)(_ray_call)
            self._remote[fn] = remote
        ref = remote.remote(fn, item, self.threads)
        future: cf.Future[R] = ref.future()
        return future


def _ray_call(fn: Callable[[T], R], item: T, threads: int) -> R:
    set_worker_threads(threads)
    return fn(item)


def make_executor(name: str = "inprocess", workers: int = 2) -> Executor:
    """Build an executor by name: ``inprocess``, ``pool`` or ``ray`` (for the CLI)."""
    if name == "inprocess":
        return InProcessExecutor()
    if name == "pool":
        return ProcessPoolExecutor(workers=workers)
    if name == "ray":
        return RayExecutor()
    raise input_error("executor", name, "one of: inprocess, pool, ray", "Pass --executor pool.")

"""The learning pipeline: a resumable, content-addressed job engine and its stages.

Engine modules: :mod:`~taskonomy.pipeline.jobs` (``Job``, ``job_kind``, ``run_jobs``),
:mod:`~taskonomy.pipeline.artifacts` (``RunDir``: the run directory, atomic job folders),
:mod:`~taskonomy.pipeline.executors` (in-process, process pool, Ray) and
:mod:`~taskonomy.pipeline.progress` (rich bar or plain log lines).
"""

from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.executors import (
    Executor,
    InProcessExecutor,
    ProcessPoolExecutor,
    RayExecutor,
    make_executor,
)
from taskonomy.pipeline.jobs import (
    JOB_KINDS,
    Job,
    JobContext,
    RunReport,
    job_kind,
    run_jobs,
    topological_order,
)
from taskonomy.pipeline.progress import LogProgress, NullProgress, RichProgress, make_progress

__all__ = [
    "JOB_KINDS",
    "Executor",
    "InProcessExecutor",
    "Job",
    "JobContext",
    "LogProgress",
    "NullProgress",
    "ProcessPoolExecutor",
    "RayExecutor",
    "RichProgress",
    "RunDir",
    "RunReport",
    "job_kind",
    "make_executor",
    "make_progress",
    "run_jobs",
    "topological_order",
]

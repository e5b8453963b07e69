"""Execution settings of a run (device, channels_last): how jobs compute, not what.

They are deliberately *not* job params: a job's key is the hash of its params, and a CPU
run must keep its keys (and finished folders) whatever device is configured. So the run
hands them to its jobs through environment variables, which every executor carries to
where a job runs: the in-process executor shares them, spawned pool workers inherit the
driver's environment, and the Ray executor copies them into each task
(:class:`taskonomy.pipeline.executors.RayExecutor`). A job that finds none computes on
the CPU, as every job did before devices existed.

``precision`` is not here: bf16 changes the numbers, so it is a job param (in the key
only when it is not the default fp32, which keeps fp32 keys unchanged).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from taskonomy.errors import TaskonomyError
from taskonomy.train.device import check_device_name, resolve_device

DEVICE_ENV = "TASKONOMY_DEVICE"
CHANNELS_LAST_ENV = "TASKONOMY_CHANNELS_LAST"
ENV_VARS = (DEVICE_ENV, CHANNELS_LAST_ENV)


@dataclass(frozen=True)
class Execution:
    device: str = "cpu"  # a device name (train.device); resolved where the job runs
    channels_last: bool = False

    def torch_device(self) -> torch.device:
        """The device on *this* machine (``auto`` resolves per worker: a Ray task that was
        given a GPU sees it through ``CUDA_VISIBLE_DEVICES``)."""
        return resolve_device(self.device)


def current() -> Execution:
    """The settings the running job was handed (CPU when none)."""
    name = os.environ.get(DEVICE_ENV, "cpu")
    return Execution(check_device_name(name), os.environ.get(CHANNELS_LAST_ENV) == "1")


@contextmanager
def exported(settings: Execution) -> Iterator[None]:
    """Set the settings' environment variables for the duration of a run, then restore."""
    flag = "1" if settings.channels_last else "0"
    values = {DEVICE_ENV: settings.device, CHANNELS_LAST_ENV: flag}
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def forwarded_env() -> dict[str, str]:
    """The execution variables set here, for an executor to copy to remote workers."""
    return {k: os.environ[k] for k in ENV_VARS if k in os.environ}


def for_run(device: str, channels_last: bool, executor: object) -> Execution:
    """The settings of a run on ``executor``, checked where they can be: ``cuda`` without
    CUDA fails here, before any job starts (on a Ray cluster: without any cluster GPU)."""
    cluster_gpus = getattr(executor, "cluster_gpus", None)
    if cluster_gpus is None:
        resolve_device(device)  # raises a one-line error for cuda without CUDA
    elif device.startswith("cuda") and cluster_gpus() == 0:
        raise TaskonomyError(
            f"device: got {device!r} but the Ray cluster has no GPU; expected a cluster "
            "with GPUs for cuda. Use --device auto (or cpu), or add GPU nodes."
        )
    return Execution(check_device_name(device), channels_last)

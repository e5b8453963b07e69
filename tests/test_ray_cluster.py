"""The Ray executor on a real (loopback) cluster: ``ray start --head`` with logical GPUs.

One head started for the module (2 CPUs, 2 logical GPUs: Ray schedules GPU resources
without any CUDA hardware); the driver connects by address like ``--ray-address``.
Skipped without the optional ``ray`` extra.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _toy_jobs import make_graph, probe_elsewhere
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline import Job, RunDir, run_jobs
from taskonomy.pipeline.execution import Execution, exported
from taskonomy.pipeline.executors import InProcessExecutor, RayExecutor, check_shared_dir

ray = pytest.importorskip("ray", reason="optional extra: pip install -e '.[ray]'")
from ray._private import ray_constants  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _pids_of(folder: str) -> list[int]:
    """Processes of the head we started: every Ray process names its session folder."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if folder.encode() in cmd:
                out.append(int(proc.name))
    return out


def _stop(folder: str) -> None:
    """Stop our head by process id. Not `ray stop`: that stops every Ray instance on the
    machine, including other users' and other test sessions'."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_of(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 3
        while _pids_of(folder) and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting for exit, not synchronizing work


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a loopback head with 2 CPUs and 2 logical GPUs."""
    if ray.is_initialized():  # e.g. the session's local instance (conftest ray_local)
        ray.shutdown()
    port = _free_port()
    tests_dir = str(Path(__file__).parent)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",  # a throwaway local cluster
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # loopback addresses only
        "PYTHONPATH": os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p),
    }
    # A short folder of our own (Unix socket paths are limited to ~107 characters).
    folder = tempfile.mkdtemp(prefix="tkray")
    cmd = [_ray_bin(), "start", "--head", "--num-cpus", "2", "--num-gpus", "2",
           "--port", str(port), "--node-ip-address", "127.0.0.1", "--include-dashboard",
           "false", "--disable-usage-stats", "--temp-dir", folder]  # fmt: skip
    # The driver must not swap 127.0.0.1 for the machine's address either (that constant
    # is read when ray is imported, so set both).
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    os.environ.update({k: env[k] for k in saved})
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if started.returncode:
            pytest.skip(f"could not start a Ray head: {started.stderr[-400:]}")
        address = f"127.0.0.1:{port}"
        ray.init(address=address, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": env["PYTHONPATH"]}})  # fmt: skip
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop(folder)
        shutil.rmtree(folder, ignore_errors=True)
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _arrays(root: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(root.glob("jobs/*/*/array.npy"))}


def test_gpu_jobs_get_a_gpu_and_results_equal_in_process(tmp_path: Path, cluster: str) -> None:
    bases = make_graph(n_bases=1, size=24, iters=3)[:1]
    gpu_jobs = [Job("testtoy_gpu", {"task": f"g{i}", "size": 24, "iters": 3}, name=f"gpu {i}")
                for i in range(2)]  # fmt: skip
    jobs = [*bases, *gpu_jobs]
    ex = RayExecutor(cluster, gpus={"testtoy_gpu": 0.5})
    assert ex.cluster_gpus() == 2
    assert ex.resources_of("testtoy_gpu") == {"num_cpus": 1.0, "num_gpus": 0.5}
    with exported(Execution("cpu")):
        report = run_jobs(jobs, tmp_path / "ray", executor=ex)
    assert report.n_executed == len(jobs)
    run_jobs(jobs, tmp_path / "inproc", executor=InProcessExecutor())
    assert _arrays(tmp_path / "ray") == _arrays(tmp_path / "inproc")
    rd = RunDir(tmp_path / "ray")
    for job in gpu_jobs:
        result = rd.read_record(job.kind, job.key)["result"]
        # Ray assigned one of the two logical GPUs and handed over the run's device.
        assert result["cuda_visible_devices"] in ("0", "1"), result
        assert result["device"] == "cpu"
    for job in bases:  # CPU kinds get no GPU
        log = rd.log_path(job.kind, job.key).read_text()
        assert "base" in log


def test_worker_killed_mid_job_is_retried_and_the_run_completes(
    tmp_path: Path, cluster: str
) -> None:
    job = Job("testtoy_die_once", {"task": "d", "size": 16, "iters": 2}, name="dies once")
    ex = RayExecutor(cluster, max_retries=2)
    report = run_jobs([job], tmp_path / "run", executor=ex)
    assert report.n_executed == 1
    root = tmp_path / "run"
    assert (root / f"died-{job.key}").is_file()  # the first attempt did die
    arr = np.load(RunDir(root).job_dir(job.kind, job.key) / "array.npy")  # complete, not "half"
    ref = tmp_path / "ref"
    (ref).mkdir()
    (ref / f"died-{job.key}").write_text("skip the death\n")
    run_jobs([job], ref, executor=InProcessExecutor())
    assert np.array_equal(arr, np.load(RunDir(ref).job_dir(job.kind, job.key) / "array.npy"))
    # The counter file has one line per started attempt: the dead one and the retry.
    counters = (root / "counters" / f"{job.kind}-{job.key}.txt").read_text().split()
    assert len(counters) == 1  # _count runs after the death point, on the retry only


def test_run_dir_not_shared_by_every_node_is_refused(tmp_path: Path, cluster: str) -> None:
    check_shared_dir(ray, str(tmp_path))  # loopback: the one node sees it
    assert not (tmp_path / ".node-probe").exists()  # the probe cleans up after itself
    # A directory the node cannot read: its probe reports the failure by node.
    with pytest.raises(TaskonomyError, match="shared by every Ray node"):
        check_shared_dir(_Unshared(ray), str(tmp_path))


class _Unshared:
    """A Ray facade whose node tasks look at another folder (as a node without the mount)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def remote(self, **options: Any) -> Any:
        return lambda _fn: self._real.remote(**options)(probe_elsewhere)


def test_cuda_device_on_a_cluster_without_gpus_is_refused() -> None:
    from taskonomy.pipeline.execution import for_run

    class NoGpus:
        def cluster_gpus(self) -> float:
            return 0.0

    with pytest.raises(TaskonomyError, match="no GPU"):
        for_run("cuda", False, NoGpus())
    assert for_run("auto", False, NoGpus()).device == "auto"
    assert json.dumps(for_run("cpu", True, InProcessExecutor()).__dict__)


def _finals(root: Path) -> dict[Path, tuple[int, int]]:
    if not (root / "jobs").is_dir():
        return {}
    return {
        p.parent: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("jobs/*/*/job.json")
    }


def test_driver_killed_mid_run_then_rerun_resumes(tmp_path: Path, cluster: str) -> None:
    """SIGKILL of the driver (``taskonomy run --executor ray`` connecting by address): the
    rerun skips every committed job and ends with the in-process artifacts."""
    from _toy_jobs import make_graph

    iters = 40
    jobs = make_graph(n_bases=4, size=96, iters=iters)
    killed = tmp_path / "killed"
    script = (
        "import sys, _toy_jobs as toy\n"
        "from taskonomy.pipeline import run_jobs\n"
        "from taskonomy.pipeline.executors import RayExecutor\n"
        f"jobs = toy.make_graph(n_bases=4, size=96, iters={iters})\n"
        "run_jobs(jobs, sys.argv[1], executor=RayExecutor(sys.argv[2]), stage='transfer')\n"
    )
    tests_dir = str(Path(__file__).parent)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PYTHONPATH": os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p),
    }
    proc = subprocess.Popen([sys.executable, "-c", script, str(killed), cluster], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            finals = _finals(killed)
            if len(finals) >= 5 and any(p.parent.name == "testtoy_pair" for p in finals):
                break
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the driver ended (rc={proc.returncode}) before the kill: {err}")
            time.sleep(0.02)  # polling the run folder under a deadline
        else:
            pytest.fail("no job finished within 180 s")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = _finals(killed)
    assert 5 <= len(before) < len(jobs), "the kill must land mid-run"

    report = run_jobs(jobs, killed, executor=RayExecutor(cluster), stage="transfer")
    assert report.n_skipped == len(before)
    assert report.n_executed == len(jobs) - len(before)
    after = _finals(killed)
    for folder, stamp in before.items():
        assert after[folder] == stamp, f"{folder.name} was redone"
    # A worker of the killed driver may still be dying with its temporary folder; once
    # its process is gone, the next run removes the folder (and redoes nothing).
    for tmp in killed.glob("jobs/*/.*tmp*"):
        pid = int(tmp.name.rsplit("-", 2)[-2])
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for a process to exit, under a deadline
    again = run_jobs(jobs, killed, executor=RayExecutor(cluster), stage="transfer")
    assert again.n_executed == 0
    assert not list(killed.glob("jobs/*/.*tmp*"))
    clean = tmp_path / "clean"
    run_jobs(jobs, clean, executor=InProcessExecutor())
    assert _arrays(killed) == _arrays(clean)

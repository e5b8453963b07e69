"""A killed run leaves no workers behind; SIGTERM stops cleanly; one writer per run dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import InProcessExecutor
from taskonomy.pipeline.run import run_pipeline

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has exited


def _pool_workers(parent: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is None or st[1] != parent:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd or b"resource_tracker" in cmd:
            out.append(int(entry.name))
    return out


def _start(tmp_path: Path, tiny_config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], Path]:
    cfg = {k: v for k, v in tiny_config.items() if k != "workers"}  # the default: a pool of 2
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskonomy.cli", "run", "--config", str(path), "--out", str(out),
         "--quiet", "--no-report"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return proc, out


def _wait_for_workers(proc: subprocess.Popen[bytes], out: Path) -> list[int]:
    """The pool's processes once a task-network job is being written (bounded wait)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [p for p in _pool_workers(proc.pid) if _alive(p)]
        writing = list((out / "jobs" / "train").glob(".*tmp*"))
        if len(workers) >= 2 and writing:
            return workers
        time.sleep(0.05)
    raise AssertionError(f"no pool workers seen (exit code {proc.poll()})")


def _wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    left = pids
    while left and time.monotonic() < deadline:
        left = [p for p in left if _alive(p)]
        time.sleep(0.05)
    return left


def test_sigkill_of_the_run_ends_its_workers(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    proc, out = _start(tmp_path, tiny_config)
    workers = _wait_for_workers(proc, out)
    killed_at = time.time_ns()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_gone(workers) == [], "pool workers outlived the killed run"
    late = [p for p in (out / "jobs").glob("*/*/job.json") if p.stat().st_mtime_ns > killed_at]
    assert late == [], f"jobs committed after the run was killed: {late}"


def test_sigterm_stops_cleanly(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    proc, out = _start(tmp_path, tiny_config)
    workers = _wait_for_workers(proc, out)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 143, text
    assert "stopped by SIGTERM" in text and str(out) in text
    assert "Traceback" not in text
    assert _wait_gone(workers) == []
    assert (out / "jobs" / "data").is_dir()  # finished jobs are kept


def test_second_writer_is_refused(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    out = tmp_path / "run"
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config))
    with RunDir(out).locked():
        with pytest.raises(
            TaskonomyError, match=rf"another run writing there \(pid {os.getpid()}\)"
        ):
            run_pipeline(load_config(overrides=tiny_config), out, executor=InProcessExecutor())
        res = subprocess.run(
            [sys.executable, "-m", "taskonomy.cli", "run", "--config", str(cfg_path),
             "--out", str(out), "--quiet"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {os.getpid()}" in lines[0], res.stderr
    assert not (out / "jobs").exists()  # nothing was written by the refused runs
    # released: the next run may take it
    with RunDir(out).locked():
        pass

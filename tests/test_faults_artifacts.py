"""Corrupt artifacts are detected, named and rebuilt; a changed Taskonomy layout is re-imported."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _toy_jobs import make_graph
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.artifacts import DIGEST, RunDir
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import InProcessExecutor
from taskonomy.pipeline.jobs import WorkItem, execute_job, run_jobs
from taskonomy.pipeline.run import Plan, run_pipeline

OUTPUTS = ("tables", "taxonomies")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _outputs(run: Path) -> dict[str, bytes]:
    return {
        p.relative_to(run).as_posix(): p.read_bytes()
        for sub in OUTPUTS
        for p in sorted((run / sub).rglob("*"))
        if p.is_file()
    }


def test_commit_records_sizes_and_checksums(tmp_path: Path) -> None:
    jobs = make_graph(n_bases=2, size=8, iters=2)
    rd = RunDir(tmp_path / "run")
    run_jobs(jobs, rd)
    base = jobs[0]
    folder = rd.job_dir(base.kind, base.key)
    files = rd.read_record(base.kind, base.key)["files"]
    arr = folder / "array.npy"
    assert files == {"array.npy": {"size": arr.stat().st_size, DIGEST: files["array.npy"][DIGEST]}}
    import hashlib

    assert files["array.npy"][DIGEST] == hashlib.blake2b(arr.read_bytes()).hexdigest()
    assert rd.verify(base.kind, base.key) is None
    # same size, one byte flipped: only the digest sees it
    data = bytearray(arr.read_bytes())
    data[-1] ^= 0xFF
    arr.write_bytes(bytes(data))
    assert rd.verify(base.kind, base.key, digests=False) is None
    assert "checksum" in (rd.verify(base.kind, base.key) or "")
    _truncate(arr)
    assert "bytes" in (rd.verify(base.kind, base.key, digests=False) or "")
    arr.unlink()
    assert "missing" in (rd.verify(base.kind, base.key) or "")
    (folder / "job.json").write_text('{"kind": ')
    assert "job.json" in (rd.verify(base.kind, base.key) or "")


def test_corrupt_job_and_its_dependents_are_redone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = make_graph(n_bases=3, size=8, iters=2)
    rd = RunDir(tmp_path / "run")
    run_jobs(jobs, rd)
    assert run_jobs(jobs, rd).n_executed == 0  # checked (digests) once in this process
    before = {j.key: (rd.job_dir(j.kind, j.key) / "job.json").read_text() for j in jobs}
    base = jobs[0]
    _truncate(rd.job_dir(base.kind, base.key) / "array.npy")
    with caplog.at_level(logging.WARNING, logger="taskonomy.pipeline"):
        report = run_jobs(jobs, rd)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "taskonomy.pipeline"]
    assert repr(base.label) in message and str(rd.job_dir(base.kind, base.key)) in message
    # the base, the 4 pairs reading it and the table over all pairs
    redone = {j.key for j in jobs if base in j.deps or j is base} | {jobs[-1].key}
    assert {r.job.key for r in report.executed} == redone
    for j in jobs:  # deterministic jobs: the rebuilt artifacts are the old ones
        old, new = json.loads(before[j.key]), rd.read_record(j.kind, j.key)
        assert old["files"] == new["files"]
    assert run_jobs(jobs, rd).n_executed == 0


def test_dependency_damaged_mid_run_names_it(tmp_path: Path) -> None:
    jobs = make_graph(n_bases=2, size=8, iters=2)
    rd = RunDir(tmp_path / "run")
    base_a, base_b, pair = jobs[0], jobs[1], jobs[2]
    run_jobs([base_a, base_b], rd)
    _truncate(rd.job_dir(base_a.kind, base_a.key) / "array.npy")
    outcome = execute_job(WorkItem(pair, str(rd.root), "_toy_jobs", None))
    assert not outcome.ok
    assert repr(base_a.label) in outcome.error
    assert str(rd.job_dir(base_a.kind, base_a.key)) in outcome.error
    assert not rd.is_finished(pair.kind, pair.key)


def test_truncated_pipeline_artifacts_are_rebuilt(
    tmp_path: Path,
    tiny_run: tuple[Path, Any],
    tiny_config: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    reference, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    plan = Plan(load_config(overrides=tiny_config))
    rd = RunDir(run)
    first = plan.first_order()
    tr0, transfer = next(iter(first.items()))
    encode = plan.encode("normal", "rgb")
    damaged = {
        # the novel task's network: not a source, so no other job depends on it
        plan.train["reshading"]: "model.safetensors",
        plan.pixels["normal"]: "test_losses.npy",
        encode: "small.npy",
        transfer: "test_losses.npy",
    }
    # the stacked readouts of another target's group
    other = next(j for tr, j in first.items() if tr.target != tr0.target)
    (readouts,) = [p.name for p in rd.job_dir("transfer", other.key).glob("*.safetensors")][:1]
    damaged[other] = readouts
    for job, name in damaged.items():
        _truncate(rd.job_dir(job.kind, job.key) / name)
    with caplog.at_level(logging.WARNING, logger="taskonomy.pipeline"):
        result = run_pipeline(load_config(overrides=tiny_config), run, executor=InProcessExecutor())
    messages = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
    for job, name in damaged.items():
        folder = str(rd.job_dir(job.kind, job.key))
        assert any(folder in m and name in m and job.label in m for m in messages), job.label
    assert sum(r.n_executed for r in result.reports) >= len(damaged)
    assert _outputs(run) == _outputs(reference)
    again = run_pipeline(load_config(overrides=tiny_config), run, executor=InProcessExecutor())
    assert sum(r.n_executed for r in again.reports) == 0


def test_truncated_bank_redoes_the_data_job_and_everything_after(
    tmp_path: Path,
    tiny_run: tuple[Path, Any],
    tiny_config: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    reference, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    plan = Plan(load_config(overrides=tiny_config))
    rd = RunDir(run)
    folder = rd.job_dir("data", plan.data.key)
    old = rd.read_record("data", plan.data.key)["files"]
    victim = max((folder / "bank").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    _truncate(victim)
    with caplog.at_level(logging.WARNING, logger="taskonomy.pipeline"):
        report = run_jobs([plan.data], rd)
    assert report.n_executed == 1
    assert any(str(folder) in r.getMessage() for r in caplog.records)
    assert rd.read_record("data", plan.data.key)["files"] == old  # rebuilt byte for byte
    for kind in ("train", "pixels", "encode", "transfer"):  # its dependents: unfinished now
        assert rd.finished_keys(kind) == [], kind


def _layout(root: Path) -> Path:
    from taskonomy.data.generate import generate_bank
    from taskonomy.data.taskonomy_layout import export_taskonomy_layout

    generate_bank(root / "bank", scenes=4, views=3, size=16, seed=5, workers=1, progress=False)
    return export_taskonomy_layout(root / "bank", root / "layout")


def test_layout_fingerprint_covers_names_sizes_and_mtimes(tmp_path: Path) -> None:
    from taskonomy.data.taskonomy_layout import layout_fingerprint

    layout = _layout(tmp_path)
    fp = layout_fingerprint(layout)
    assert fp == layout_fingerprint(layout) and len(fp) == 64
    png = sorted((layout / "rgb").rglob("*.png"))[0]
    st = png.stat()
    png.write_bytes(png.read_bytes())  # same bytes, newer mtime
    import os

    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert layout_fingerprint(layout) != fp
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert layout_fingerprint(layout) == fp
    (png.parent / "extra.txt").write_text("x")
    assert layout_fingerprint(layout) != fp
    with pytest.raises(TaskonomyError, match="Taskonomy layout folder"):
        layout_fingerprint(tmp_path / "nope")


def test_changed_layout_redoes_the_data_job(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    layout = _layout(tmp_path)
    data = {"source": "taskonomy", "path": str(layout), "size": 16}
    cfg = load_config(overrides={**tiny_config, "data": data})
    rd = RunDir(tmp_path / "run")
    plan = Plan(cfg)
    assert run_jobs([plan.data], rd).n_executed == 1
    assert run_jobs([Plan(cfg).data], rd).n_executed == 0  # unchanged folder: reused
    # an image blanked (same name and size class, new content)
    png = sorted((layout / "rgb").rglob("*.png"))[0]
    import imageio.v3 as iio

    iio.imwrite(png, np.zeros((16, 16, 3), np.uint8), extension=".png")
    changed = Plan(cfg)
    assert changed.data.key != plan.data.key
    assert run_jobs([changed.data], rd).n_executed == 1
    # a building removed
    building = sorted(p for p in (layout / "rgb").iterdir() if p.is_dir())[-1]
    for domain in layout.iterdir():
        shutil.rmtree(domain / building.name, ignore_errors=True)
    fewer = Plan(cfg)
    assert fewer.data.key not in (plan.data.key, changed.data.key)
    assert run_jobs([fewer.data], rd).n_executed == 1

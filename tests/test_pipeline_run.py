"""The learning pipeline end to end on a tiny synthetic bank (seconds, not minutes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from taskonomy.affinity.table import Transfer, read_table
from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import InProcessExecutor
from taskonomy.pipeline.run import run_pipeline
from taskonomy.tasks import get_task, list_tasks


def _write(tmp_path: Path, cfg: dict[str, Any], name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_overrides_only_what_it_names(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"preset": "quick", "seed": 7, "train": {"steps": 5}}))
    quick = load_config(preset="quick")
    assert cfg.seed == 7 and cfg.train.steps == 5
    assert cfg.train.lr == quick.train.lr and cfg.tasks == quick.tasks
    assert load_config(preset="standard").model.encoder == "small_resnet"
    assert load_config(preset="paper").model.encoder == "resnet50"


@pytest.mark.parametrize("preset", ["laptop", "standard"])
def test_full_dictionary_presets_list_every_registered_task(preset: str) -> None:
    # A task added to the registry must not be silently missing from the full presets.
    cfg = load_config(preset=preset)
    assert set(cfg.tasks) == set(list_tasks())  # targets, source-only tasks and random


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"preset": "quick", "trian": {"steps": 1}}, r"trian.*Extra inputs"),
        ({"preset": "quick", "train": {"steps": 0}}, r"train\.steps"),
        ({"preset": "quick", "tasks": ["depth"]}, "unknown task"),
        ({"preset": "quick", "novel": ["keypoints3d"]}, "must also be listed"),
        ({"preset": "nope"}, "preset"),
        ({"tasks": ["normal"], "data": {"splits": {"large": 1.0}}}, "splits"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, cfg: dict[str, Any], match: str) -> None:
    with pytest.raises(TaskonomyError, match=match):
        load_config(_write(tmp_path, cfg))


def test_cli_bad_config_exits_nonzero(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["run", "--config", str(_write(tmp_path, {"bogus": 1}))])
    assert res.exit_code == 2


def test_tiny_run_tables(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    aff = read_table(out / "tables" / "affinities.csv")
    targets = {"depth_zbuffer", "normal", "reshading", "class_scene"}
    assert set(aff.targets()) == targets
    for t in targets:
        row = aff.for_target(t)
        assert sum(row.values()) == pytest.approx(1.0)
        assert Transfer(("self",), t) in row and Transfer(("random",), t) in row
        if t != "reshading":
            assert Transfer((t,), t) in row  # t → t: the target's own frozen encoder
        # the paper's order-2 selection: pairs of the best 5 other tasks (here only 3 exist)
        others = len(targets - {t, "reshading"})
        assert sum(1 for tr in row if tr.order == 2) == comb(min(5, others), 2)
        assert all("random" not in tr.sources and t not in tr.sources
                   for tr in row if tr.order == 2)  # fmt: skip
        assert all("reshading" not in tr.sources for tr in row)  # held out: novel
    wins_self = read_table(out / "tables" / "wins_vs_self.csv")
    wins_pix = read_table(out / "tables" / "wins_vs_pixels.csv")
    assert all(wins_self.value(["self"], t) == 0.5 for t in targets)
    assert all(wins_pix.value(["pixels"], t) == 0.5 for t in targets)
    assert (out / "tables" / "sanity.csv").read_text().startswith("task,")
    assert {r.task for r in result.sanity} == targets
    assert all(0 <= r.win_vs_guess <= 1 for r in result.sanity)
    assert len(list((out / "taxonomies").glob("*.json"))) == 6
    assert (out / "config.yaml").is_file()
    # weights are safetensors
    assert list((out / "jobs" / "train").glob("*/model.safetensors"))


def test_solve_reads_the_run_tables(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    res = CliRunner().invoke(
        app,
        ["solve", "--affinities", str(out / "tables" / "affinities.csv"), "--budget", "2",
         "--max-order", "2", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    import json

    policy = json.loads(res.output)
    assert all(c["gain"] is not None for c in policy["policy"].values())  # win rates beside


def test_rerun_skips_everything_and_is_identical(
    tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    out, first = tiny_run
    cfg = load_config(overrides=tiny_config)
    again = run_pipeline(cfg, out, executor=InProcessExecutor())
    assert sum(r.n_executed for r in again.reports) == 0
    assert dict(again.affinities) == dict(first.affinities)


def test_sanity_check_stops_an_untrained_run(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    cfg = load_config(overrides={**tiny_config, "train": {"steps": 1}, "sanity": "stop",
                                 "tasks": ["depth_zbuffer", "random"], "novel": []})  # fmt: skip
    with pytest.raises(TaskonomyError, match=r"sanity check failed.*depth_zbuffer"):
        run_pipeline(cfg, tmp_path / "run", executor=InProcessExecutor())
    # the finished task network stays on disk for a resumed, longer run
    assert list((tmp_path / "run" / "jobs" / "train").glob("*/job.json"))


def _run_cli(cfg: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "taskonomy.cli", "run", "--config", str(cfg), "--out", str(out),
         "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finished(out: Path, kind: str) -> dict[Path, tuple[int, int]]:
    return {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "jobs" / kind).glob("*/job.json")
    }


def test_sigkill_during_transfers_then_resume(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    reference, _ = tiny_run  # an uninterrupted run of the same config and seed
    cfg = _write(tmp_path, tiny_config)
    out = tmp_path / "killed"
    proc = _run_cli(cfg, out)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if _finished(out, "transfer"):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the transfer stage could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {k: _finished(out, k) for k in ("data", "train", "pixels", "encode", "transfer")}
    assert before["transfer"] and not (out / "tables" / "affinities.csv").exists()

    proc = _run_cli(cfg, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    for kind, jobs in before.items():
        after = _finished(out, kind)
        for path, stamp in jobs.items():
            assert after[path] == stamp, f"{kind} job {path.parent.name} was redone"
    a = (out / "tables" / "affinities.csv").read_text()
    b = (reference / "tables" / "affinities.csv").read_text()
    assert a == b
    assert not list((out / "jobs").glob("*/.*tmp*"))


def test_losses_are_finite(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    for f in (out / "jobs").glob("*/*/test_losses.npy"):
        assert np.isfinite(np.load(f)).all()


def test_novel_task_report(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    rows = result.novel["reshading"]
    assert (out / "tables" / "novel_reshading.json").is_file()
    feasible = [n for n, rec in result.taxonomies.items() if "policy" in rec]
    assert {r["taxonomy"] for r in rows} == set(feasible) and rows
    for r in rows:
        assert "reshading" not in r["sources"]  # served by transfers from other tasks only
        assert 0 <= r["gain"] <= 1 and 0 <= r["quality"] <= 1 and 0 <= r["win_vs_random"] <= 1
    for rec in result.taxonomies.values():
        if "policy" in rec:
            assert rec["policy"]["reshading"]["kind"] == "transfer"
            assert "reshading" not in rec["scratch"]


def test_process_pool_gives_the_same_tables(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    from taskonomy.pipeline.executors import ProcessPoolExecutor, cpu_count

    _, first = tiny_run
    cfg = load_config(overrides=tiny_config)
    # One worker process with the in-process thread count: the same arithmetic.
    with ProcessPoolExecutor(workers=1) as pool:
        assert pool.threads == cpu_count()
        result = run_pipeline(cfg, tmp_path / "pool", executor=pool)
    assert dict(result.affinities) == dict(first.affinities)
    assert dict(result.wins_vs_pixels) == dict(first.wins_vs_pixels)


def test_ray_executor_gives_the_same_tables(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any], ray_local: Any
) -> None:
    from taskonomy.pipeline.executors import RayExecutor, cpu_count

    _, first = tiny_run
    cfg = load_config(overrides=tiny_config)
    # One job at a time with the in-process thread count: the same arithmetic.
    ex = RayExecutor(num_cpus_per_job=cpu_count())
    result = run_pipeline(cfg, tmp_path / "ray", executor=ex)
    assert dict(result.affinities) == dict(first.affinities)
    assert dict(result.wins_vs_pixels) == dict(first.wins_vs_pixels)


def test_every_task_of_the_dictionary_runs(tmp_path: Path) -> None:
    """All 25 tasks + random (multi-view, source-only, segment embeddings, poses), orders
    up to 5 and a novel multi-view target, with a handful of steps: plumbing, not quality."""
    cfg = load_config(
        preset="standard",
        overrides={
            "data": {"scenes": 6, "views": 3, "size": 32},
            "model": {"width": 8, "bottleneck_channels": 8},
            "train": {"steps": 2, "batch_size": 8},
            "pixels": {"steps": 1, "batch_size": 8},
            "transfer": {"max_order": 5, "steps": 1, "batch_size": 8},
            "taxonomy": {"budgets": [3], "orders": [1, None]},
            "workers": 1,
            "sanity": "warn",
            "novel": ["egomotion"],
        },
    )
    result = run_pipeline(cfg, tmp_path / "run", executor=InProcessExecutor())
    targets = [t for t in cfg.tasks if get_task(t).role == "task"]
    assert sorted(result.affinities.targets()) == sorted(targets) and len(targets) == 22
    for t in targets:
        row = result.affinities.for_target(t)
        assert sum(row.values()) == pytest.approx(1.0)
        orders = {tr.order for tr in row}
        assert orders >= {1, 2, 3, 4, 5}
    sources = {s for tr in result.affinities for s in tr.sources}
    assert {"jigsaw", "colorization", "inpainting", "random", "point_matching"} <= sources
    assert "egomotion" not in sources
    assert result.novel["egomotion"]


def test_transfer_jobs_record_each_transfers_early_stopping(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    records = [json.loads(p.read_text()) for p in (out / "jobs" / "transfer").glob("*/job.json")]
    assert records
    for rec in records:
        steps = rec["params"]["transfer"]["steps"]
        best = rec["result"]["best_steps"]
        assert len(best) == rec["result"]["transfers"] == len(rec["params"]["sources"])
        assert all(0 <= s <= steps for s in best)


def test_decoder_width_is_its_own_setting(tiny_run: tuple[Path, Any]) -> None:
    from taskonomy.data.bank import Bank
    from taskonomy.pipeline.stages import task_model

    out, _ = tiny_run
    bank = Bank(next((out / "jobs" / "data").glob("*/bank")))
    model = {"encoder": "small_resnet", "width": 8, "bottleneck_channels": 8}
    tied = task_model("normal", bank, {"model": model}, "small_resnet")
    own = task_model("normal", bank, {"model": {**model, "decoder_width": 24}}, "small_resnet")
    assert tied.head.decoder.body[0].out_channels == 8  # type: ignore[index,union-attr]
    assert own.head.decoder.body[0].out_channels == 24  # type: ignore[index,union-attr]
    assert own.encoder.stem[0].out_channels == tied.encoder.stem[0].out_channels == 8  # type: ignore[index,union-attr]

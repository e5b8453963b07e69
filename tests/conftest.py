from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PUBLISHED = SHARED / "data" / "taskonomy-2018"


@pytest.fixture(scope="session")
def published_dir() -> Path:
    """The published 2018 results (read-only, beside the checkout)."""
    if not (PUBLISHED / "affinities" / "all_affinities_16k.pkl").is_file():
        pytest.fail(f"published 2018 results not found at {PUBLISHED}; they ship in ../shared")
    return PUBLISHED


# A pipeline run small enough for tests (about 7 s on 2 cores): 4 targets + random, orders
# 1-2, one novel task. Shared by the pipeline and report tests.
TINY_RUN: dict[str, Any] = {
    "seed": 3,
    "tasks": ["depth_zbuffer", "normal", "reshading", "class_scene", "random"],
    "data": {"scenes": 12, "views": 3, "size": 32},
    "model": {"width": 8, "bottleneck_channels": 16},
    "train": {"steps": 30, "batch_size": 16},
    "pixels": {"steps": 10, "batch_size": 16},
    "transfer": {"max_order": 2, "steps": 10, "batch_size": 16},
    "taxonomy": {"budgets": [1, 2, 4], "orders": [1, 2]},
    "workers": 1,
    "sanity": "warn",
    "novel": ["reshading"],
}


@pytest.fixture(scope="session")
def tiny_config() -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY_RUN.items()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(run directory, RunResult) of the tiny config, run once per test session."""
    from taskonomy.pipeline.config import load_config
    from taskonomy.pipeline.executors import InProcessExecutor
    from taskonomy.pipeline.run import run_pipeline

    out = tmp_path_factory.mktemp("tiny-run")
    cfg = load_config(overrides=TINY_RUN)
    return out, run_pipeline(cfg, out, executor=InProcessExecutor())


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """A local 2-CPU Ray instance whose workers can import the toy job kinds in tests/.

    Ray is the optional ``taskonomy[ray]`` extra: CI installs it (``.ci/run``); without it
    these tests are skipped.
    """
    ray = pytest.importorskip("ray", reason="optional extra: pip install -e '.[ray]'")
    tests_dir = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH", "")) if p)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local throwaway instance
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
    yield ray
    ray.shutdown()

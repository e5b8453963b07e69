from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _write_published_pickle(table: Any, path: Path) -> None:
    """A pickle of the published shape: ``{"src1__…__srcK__target": numpy.float64}``, 2018 names."""
    import pickle

    import numpy as np

    from taskonomy.tasks import name_2018

    def n18(name: str) -> str:
        return name if name in ("self", "pixels", "random") else name_2018(name)

    raw = {"__".join([*map(n18, tr.sources), n18(tr.target)]): np.float64(v)
           for tr, v in table.items()}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(raw, protocol=4))


@pytest.fixture(scope="session")
def published_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2018 ``results/`` folder (``affinities/`` + ``winrates/`` pickles) for the pickle reader.

    Built from the packaged tables (the published values), so tests need nothing beside the
    checkout.
    """
    from taskonomy.affinity.table import read_table

    root = tmp_path_factory.mktemp("results")
    for name, suffix in (("taskonomy-2018", ""), ("taskonomy-2018-16k", "_16k"),
                         ("taskonomy-2018-1k", "_1k")):  # fmt: skip
        for kind, rel in (("affinity", "affinities/all_affinities"),
                          ("wins_vs_pixels", "winrates/wins_vs_pixels"),
                          ("wins_vs_self", "winrates/wins_vs_task")):  # fmt: skip
            _write_published_pickle(read_table(name, kind), root / f"{rel}{suffix}.pkl")  # type: ignore[arg-type]
    return root


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
    # smaller than the defaults: the tests check the chain, not the interval widths
    "uncertainty": {"replicates": 200, "stability_replicates": 50, "random_policies": 200},
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

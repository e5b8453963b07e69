"""Render a bank of synthetic scenes in parallel (``taskonomy generate``).

Each scene is rendered from its own seed, derived from the global seed and the scene index
(:func:`~taskonomy.data.bank.scene_seed`, a NumPy ``SeedSequence`` spawn key), so the bank is
identical whatever the number of worker processes, and scene ``i`` is the same in a bank of
10 scenes and in one of 1000. Workers are started with ``spawn`` (safe with threads and on
every platform); the parent writes scenes in index order while later ones render.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from taskonomy.data.bank import (
    DEFAULT_FRACTIONS,
    BankWriter,
    atomic_bank_dir,
    scene_seed,
    split_scenes,
)
from taskonomy.data.synthetic.scene import SIZE_RANGE, VIEWS_RANGE
from taskonomy.errors import input_error

RENDERER = "taskonomy.data.synthetic"
CAMERA_POSE = "camera_pose"  # (V, 4, 4) float32 camera-to-world, from the renderer's _cam_pose

SceneResult = tuple[int, dict[str, np.ndarray], dict[str, Any]]

MAX_SCENES = 1_000_000
# Bank size model, measured on rendered banks (tests/test_bad_inputs_cli.py checks it bounds a
# real one): ~47 bytes per pixel per view over every task's label, plus per-scene metadata.
BYTES_PER_PIXEL_VIEW = 48
BYTES_PER_SCENE = 16 << 10
BYTES_PER_BANK = 64 << 10


def estimate_bank_bytes(*, scenes: int, views: int, size: int) -> int:
    """An upper estimate of a synthetic bank's size on disk, in bytes."""
    per_scene = views * size * size * BYTES_PER_PIXEL_VIEW + BYTES_PER_SCENE
    return scenes * per_scene + BYTES_PER_BANK


def _check_free_space(out: Path, needed: int) -> None:
    parent = out.absolute()
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if needed > free:
        raise input_error(
            "bank size",
            f"about {needed / 1e9:.3g} GB",
            f"at most the {free / 1e9:.3g} GB free on {parent}",
            "Use fewer --scenes/--views, a smaller --size, or another --out.",
        )


def _make_config(size: int, views: int, overrides: Mapping[str, Any] | None) -> Any:
    from taskonomy.data.synthetic import SceneConfig

    return SceneConfig(size=size, views=views, **dict(overrides or {}))


def _config_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    dump = getattr(config, "model_dump", None)  # pydantic
    if callable(dump):
        return dict(dump(mode="json"))
    return dict(vars(config))


def _render_scene(seed: int, config: Any) -> Any:
    """The renderer call (a module attribute so tests can substitute a fake in-process)."""
    from taskonomy.data.synthetic import render_scene

    return render_scene(seed, config)


def render_one(job: tuple[int, int, Any]) -> SceneResult:
    """Worker entry point: render scene ``index`` and return what the bank stores."""
    index, seed, config = job
    scene = _render_scene(seed, config)
    # renderer-internal keys ("_z", ...) are not stored; dropping them here saves pickling
    arrays = {k: np.asarray(v) for k, v in scene.arrays.items() if not k.startswith("_")}
    pose = scene.arrays.get("_cam_pose")
    if pose is not None:
        # the one extra kept (64 bytes a view): camera-to-world poses, for the exported
        # point_info files and for anyone checking the pose labels
        arrays[CAMERA_POSE] = np.asarray(pose, dtype=np.float32)
    return index, arrays, dict(scene.meta)


def _results(jobs: Sequence[tuple[int, int, Any]], workers: int) -> Iterator[SceneResult]:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield render_one(job)
        return
    ctx = multiprocessing.get_context("spawn")
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        # map() yields in submission order, so scenes are written in index order
        yield from ex.map(render_one, jobs, chunksize=1)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def generate_bank(
    out: str | os.PathLike[str],
    *,
    scenes: int,
    views: int,
    size: int,
    seed: int = 0,
    workers: int | None = None,
    force: bool = False,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    progress: bool = True,
    config_overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Render ``scenes`` scenes of ``views`` views at ``size``² into a bank at ``out``.

    ``workers`` defaults to ``os.cpu_count()``; the result does not depend on it. The bank
    appears at ``out`` only once complete (see :func:`~taskonomy.data.bank.atomic_bank_dir`).
    """
    for what, val, (lo, hi) in (
        ("--scenes", scenes, (1, MAX_SCENES)),
        ("--views", views, VIEWS_RANGE),
        ("--size", size, SIZE_RANGE),
    ):
        if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
            raise input_error(what, val, f"an integer in [{lo}, {hi}]")
    if workers is not None and workers < 1:
        raise input_error("--workers", workers, "an integer >= 1 (or omit it for all cores)")
    if seed < 0:
        raise input_error("--seed", seed, "a non-negative integer")
    n_workers = min(workers or os.cpu_count() or 1, scenes)
    splits = split_scenes(scenes, seed, fractions)  # validate before rendering anything
    config = _make_config(size, views, config_overrides)
    seeds = [scene_seed(seed, i) for i in range(scenes)]
    jobs = [(i, seeds[i], config) for i in range(scenes)]
    generator = {
        "renderer": RENDERER,
        "config": _config_dict(config),
        "seed": seed,
        "fractions": [float(f) for f in fractions],
    }
    out = Path(out)
    _check_free_space(out, estimate_bank_bytes(scenes=scenes, views=views, size=size))
    with atomic_bank_dir(out, force=force) as tmp:
        writer = BankWriter(tmp, [views] * scenes)
        bar = progress_bar(progress)
        with bar:
            task = bar.add_task(f"rendering {scenes} scenes × {views} views", total=scenes)
            for index, arrays, meta in _results(jobs, n_workers):
                writer.add_scene(arrays, meta, name=f"scene_{index:05d}", seed=seeds[index])
                bar.advance(task)
        writer.finalize(splits=splits, generator=generator)
    return out


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None


def progress_bar(enabled: bool) -> Any:
    """A rich progress bar on stderr, or a silent stand-in when ``enabled`` is False."""
    if not enabled:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


__all__ = [
    "CAMERA_POSE",
    "MAX_SCENES",
    "RENDERER",
    "estimate_bank_bytes",
    "generate_bank",
    "progress_bar",
    "render_one",
]

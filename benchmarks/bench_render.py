"""Throughput of the synthetic renderer: views per second with every label, single process.

    python benchmarks/bench_render.py [--scenes 12] [--views 6] [--sizes 64 128]

Prints views/s per image size (the goal is >= 100 views/s at 64² on a 2-core machine), then a
cProfile breakdown of one 64² run by pipeline stage (cumulative time, so nested stages are
also counted in their parents: ``shade`` includes ``shadow rays``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from taskonomy.data.synthetic import SceneConfig, render_scene
from taskonomy.data.synthetic.labels import jigsaw_permutations

# (label, function name, file suffix) of the stages worth reporting
STAGES = (
    ("scene generation", "generate_scene", "scene.py"),
    ("camera placement", "sample_views", "views.py"),
    ("primary rays", "cast_primary", "raycast.py"),
    ("shading (all lights)", "shade", "render.py"),
    ("  shadow rays", "shadowed", "raycast.py"),
    ("textures", "albedo", "render.py"),
    ("segment_unsup2d (felzenszwalb)", "segment_unsup2d", "labels.py"),
    ("segment_unsup25d", "segment_unsup25d", "labels.py"),
    ("keypoints (harris 2d + 3d)", "harris", "labels.py"),
    ("occlusion edges", "occlusion_pairs", "labels.py"),
    ("texture edges", "edge_texture", "labels.py"),
)


def run(size: int, views: int, scenes: int, first_seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to render ``scenes`` scenes."""
    cfg = SceneConfig(size=size, views=views)
    t0, c0 = time.perf_counter(), time.process_time()
    for seed in range(first_seed, first_seed + scenes):
        render_scene(seed, cfg)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = ap.parse_args()

    jigsaw_permutations(100)  # one-off per process (cached): not part of the per-view cost
    for size in args.sizes:
        run(size, args.views, 1, 10_000)  # warm-up
        dt, cpu = run(size, args.views, args.scenes, 0)
        n = args.scenes * args.views
        print(
            f"{size:4d}²: {n / dt:7.1f} views/s wall, {n / cpu:7.1f} views per CPU-second "
            f"({1000 * dt / n:6.2f} ms/view; {args.scenes} scenes x {args.views} views, all labels)"
        )
    print("(on a shared machine, wall time is pessimistic; CPU time is what one free core gives)")

    prof = cProfile.Profile()
    prof.enable()
    run(64, args.views, args.scenes, 0)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    cum: dict[str, float] = {}
    for (file, _, func), row in stats.items():
        for label, name, suffix in STAGES:
            if func == name and file.endswith(suffix):
                cum[label] = cum.get(label, 0.0) + row[3]
    total = sum(row[3] for (_, _, f), row in stats.items() if f == "render_scene")
    n = args.scenes * args.views
    print(f"\nprofile at 64² (cProfile inflates small calls): {1000 * total / n:.2f} ms/view")
    for label, _, _ in STAGES:
        t = cum.get(label, 0.0)
        print(f"  {label:32s} {100 * t / total:5.1f}%  {1000 * t / n:6.2f} ms/view")


if __name__ == "__main__":
    main()

"""Bank speed: parallel generation, and sample loading (memory-mapped bank vs PNG layout).

    python benchmarks/bench_bank.py --scenes 12 --views 6 --size 64

Prints, measured in this one run:
- generation time with 1 worker and with all cores (the banks are checked identical);
- samples/s of ``MultiTaskDataset`` (memory-mapped ``.npy``) for a mix of dense tasks, against
  decoding the same labels from the exported Taskonomy-layout PNGs, and their ratio.

Timings on a shared machine are pessimistic; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from taskonomy.data.bank import Bank
from taskonomy.data.dataset import MultiTaskDataset
from taskonomy.data.generate import generate_bank
from taskonomy.data.taskonomy_layout import TaskonomyLayout, export_taskonomy_layout

TASKS = ["depth_zbuffer", "normal", "edge_texture", "reshading", "segment_semantic", "class_scene"]


def _timed(fn: object, *args: object, **kw: object) -> tuple[object, float]:
    t = time.perf_counter()
    out = fn(*args, **kw)  # type: ignore[operator]
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    kw = {"scenes": args.scenes, "views": args.views, "size": args.size, "seed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, t1 = _timed(generate_bank, root / "b1", workers=1, progress=False, **kw)
        _, tn = _timed(generate_bank, root / "bn", workers=args.workers, progress=False, **kw)
        same = all(
            (root / "b1" / f.name).read_bytes() == f.read_bytes()
            for f in (root / "bn").glob("*.npy")
        )
        n_views = args.scenes * args.views
        print(f"generate {args.scenes} scenes × {args.views} views at {args.size}²:")
        print(f"  1 worker : {t1:7.2f} s  ({n_views / t1:6.1f} views/s)")
        print(f"  {args.workers} workers: {tn:7.2f} s  ({n_views / tn:6.1f} views/s)"
              f"  speed-up ×{t1 / tn:.2f}; identical banks: {same}")  # fmt: skip

        bank = Bank(root / "b1")
        ds = MultiTaskDataset(bank, "all", TASKS)
        ds[0]  # warm the memory maps
        t = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        t_bank = (time.perf_counter() - t) / len(ds)

        export_taskonomy_layout(bank, root / "layout")
        layout = TaskonomyLayout(root / "layout")
        t = time.perf_counter()
        for vid in layout.views:
            layout.read("rgb", vid)
            for task in TASKS:
                layout.read(task, vid)
            layout.valid_mask(vid)
        t_png = (time.perf_counter() - t) / len(layout.views)
        sample = ds[0]
        mb = sum(v.numel() * v.element_size() for v in sample.values()) / 2**20
        print(f"load one sample of {len(TASKS)} tasks + rgb ({mb:.2f} MiB as tensors):")
        print(f"  bank (memory-mapped .npy): {t_bank * 1e3:7.3f} ms  ({1 / t_bank:8.1f} /s)")
        print(f"  Taskonomy layout (PNG)   : {t_png * 1e3:7.3f} ms  ({1 / t_png:8.1f} /s)")
        print(f"  bank is ×{t_png / t_bank:.1f} faster")
        disk = sum(f.stat().st_size for f in (root / "b1").glob("*.npy")) / 2**20
        png = sum(f.stat().st_size for f in (root / "layout").rglob("*") if f.is_file()) / 2**20
        print(f"disk: bank {disk:.1f} MiB, layout {png:.1f} MiB ({np.round(png / disk, 2)}×)")


if __name__ == "__main__":
    main()

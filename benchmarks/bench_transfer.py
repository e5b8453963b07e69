"""Transfers from cached representations (stacked per target) vs the paper's route.

The paper's route trains each transfer on its own and, at every step, pushes the
minibatch's images through the frozen source encoder(s). This project encodes every
image once per source (``encode`` jobs) and trains all transfers of one order into one
target as one stacked network (``taskonomy.transfer.stacked``). Same initialization and
minibatches, so the per-image test losses must agree; the script prints the max
difference, the wall times side by side, their ratios, and where the paper route's time
goes.

    python benchmarks/bench_transfer.py            # quick-preset shapes (32², width 16)
    python benchmarks/bench_transfer.py --size 64 --steps 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from taskonomy.data.bank import Bank
from taskonomy.data.generate import generate_bank
from taskonomy.nn.encoders import source_encoder
from taskonomy.nn.readout import TransferReadout, build_transfer
from taskonomy.pipeline.stages import use_stacked
from taskonomy.pipeline.tensors import load_images, load_labels, sample_views, sizes_of
from taskonomy.train.loop import batches, fit, lr_schedule, make_optimizer, per_image
from taskonomy.transfer.stacked import StackedTransfers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--width", type=int, default=48, help="encoder width")
    ap.add_argument("--decoder-width", type=int, default=32, help="0: same as --width")
    ap.add_argument("--bottleneck", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--encoder", default="small_resnet", help="small_resnet or resnet50")
    ap.add_argument("--targets", default="depth_zbuffer,normal,segment_semantic,class_scene")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        bank_dir = generate_bank(
            Path(tmp) / "bank", scenes=120, views=3, size=args.size, seed=0, progress=False
        )
        bank = Bank(bank_dir)
        # Frozen source encoders (random weights: the cost is the same as trained ones).
        encoders = []
        for i in range(args.sources):
            torch.manual_seed(i)
            enc = source_encoder("random", args.encoder, 1, args.size, args.bottleneck, args.width)
            encoders.append(enc.eval())
        print(
            f"images {args.size}², {args.encoder} width {args.width}, decoder width "
            f"{args.decoder_width or args.width}, bottleneck "
            f"{args.bottleneck}, {args.steps} steps × batch {args.batch}, "
            f"{args.threads} thread(s)"
        )
        print(
            f"{'target':15s} {'order':>5s} {'M':>3s} {'paper route':>12s} {'cached':>9s} "
            f"{'cached+stacked':>15s} {'ratio':>6s} {'ratio':>6s} {'max rel Δ':>10s}"
        )
        totals = defaultdict(float)
        breakdown: dict[str, float] = defaultdict(float)
        for target in args.targets.split(","):
            for order in (1, 2):
                sets = list(combinations(range(args.sources), order))[:10]
                t = bench_target(bank, target, encoders, sets, args, breakdown)
                # what `taskonomy run` does with `transfer.stacked: auto`
                t["auto"] = t["stacked"] if use_stacked("auto", target, args.size) else t["cached"]
                for k, v in t.items():
                    if k != "diff":
                        totals[k] += v
                print(
                    f"{target:15s} {order:5d} {len(sets):3d} {t['paper']:11.2f}s "
                    f"{t['cached']:8.2f}s {t['stacked']:14.2f}s "
                    f"{t['paper'] / t['cached']:5.1f}× {t['paper'] / t['stacked']:5.1f}× "
                    f"{t['diff']:10.1e}"
                )
        print(
            f"{'total':15s} {'':5s} {'':3s} {totals['paper']:11.2f}s {totals['cached']:8.2f}s "
            f"{totals['stacked']:14.2f}s {totals['paper'] / totals['cached']:5.1f}× "
            f"{totals['paper'] / totals['stacked']:5.1f}×"
        )
        print(
            f"pipeline route (transfer.stacked: auto): {totals['auto']:.2f}s, "
            f"{totals['paper'] / totals['auto']:.1f}× faster than the paper route"
        )
        print("ratios: paper route / this project's route (cached alone; cached + stacked)")
        whole = sum(breakdown.values())
        print(
            "paper route time: "
            + ", ".join(
                f"{k} {v / whole:.0%}" for k, v in sorted(breakdown.items(), key=lambda kv: -kv[1])
            )
        )


def _readouts(
    target: str, sets: list, bank: Bank, channels: int, args: argparse.Namespace
) -> list[TransferReadout]:
    out = []
    for i, srcs in enumerate(sets):
        torch.manual_seed(1000 + i)
        out.append(
            build_transfer(
                target,
                len(srcs),
                args.size,
                sizes_of(bank),
                args.bottleneck,
                source_channels=channels,
                decoder_width=args.decoder_width or args.width,
            )
        )
    return out


def bench_target(
    bank: Bank,
    target: str,
    encoders: list,
    sets: list,
    args: argparse.Namespace,
    breakdown: dict[str, float],
) -> dict[str, float]:
    hp = {"steps": args.steps, "batch_size": args.batch, "lr": 3e-3, "seed": 7}
    views = {s: sample_views(bank, target, s)[0] for s in ("small", "test")}
    labels = {s: load_labels(bank, target, s) for s in ("small", "test")}
    channels = len(sets[0]) * args.bottleneck

    # --- this project's route: encode each source once, then train from the cache.
    t0 = time.perf_counter()
    cache = {}
    with torch.no_grad():
        for s in ("small", "test"):
            images = load_images(bank, "rgb", views[s])
            cache[s] = [per_image(lambda b, e=e: e(b["x"]), {"x": images}) for e in encoders]
    t_encode = time.perf_counter() - t0

    def reps(split: str, srcs: tuple[int, ...]) -> torch.Tensor:
        return torch.cat([cache[split][i] for i in srcs], dim=1)

    t0 = time.perf_counter()
    cached_losses = []
    for ro, srcs in zip(_readouts(target, sets, bank, channels, args), sets, strict=True):
        fit(
            ro,
            lambda b, ro=ro: ro.loss(ro(b["reps"]), b),
            {**labels["small"], "reps": reps("small", srcs)},
            **hp,
        )
        cached_losses.append(
            per_image(
                lambda b, ro=ro: ro.loss(ro(b["reps"]), b),
                {**labels["test"], "reps": reps("test", srcs)},
            )
        )
    t_cached = time.perf_counter() - t0 + t_encode

    t0 = time.perf_counter()
    st = StackedTransfers(_readouts(target, sets, bank, channels, args))
    all_small = torch.cat([reps("small", s) for s in sets], dim=1)
    all_test = torch.cat([reps("test", s) for s in sets], dim=1)
    fit(
        st,
        lambda b: st.per_model_loss(st(b["reps"]), b).sum(0),
        {**labels["small"], "reps": all_small},
        **hp,
    )
    stacked_losses = per_image(
        lambda b: st.per_model_loss(st(b["reps"]), b).T, {**labels["test"], "reps": all_test}
    ).T
    t_stacked = time.perf_counter() - t0 + t_encode

    # --- the paper's route: per transfer, every step reads images and re-encodes them.
    t_paper = 0.0
    paper_losses = []
    for ro, srcs in zip(_readouts(target, sets, bank, channels, args), sets, strict=True):
        opt = make_optimizer(list(ro.parameters()), hp["lr"], 0.0)  # as fit()
        sched = lr_schedule(opt, args.steps)
        idx = {"i": torch.arange(len(views["small"]))}
        stream = batches(idx, args.batch, torch.Generator().manual_seed(hp["seed"]))
        ro.train()
        t_start = time.perf_counter()
        for _ in range(args.steps):
            t = time.perf_counter()
            rows = next(stream)["i"].numpy()
            batch = {k: v[rows] for k, v in labels["small"].items()}
            images = load_images(bank, "rgb", views["small"][rows])
            t1 = time.perf_counter()
            with torch.no_grad():
                x = torch.cat([encoders[i](images) for i in srcs], dim=1)
            t2 = time.perf_counter()
            loss = ro.loss(ro(x), batch).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            sched.step()
            t4 = time.perf_counter()
            breakdown["data"] += t1 - t
            breakdown["encoder forward"] += t2 - t1
            breakdown["readout + decoder fwd/bwd"] += t3 - t2
            breakdown["optimizer"] += t4 - t3
        ro.eval()
        with torch.no_grad():
            test_images = load_images(bank, "rgb", views["test"])
            x = torch.cat([encoders[i](test_images) for i in srcs], dim=1)
            paper_losses.append(ro.loss(ro(x), labels["test"]))
        t_paper += time.perf_counter() - t_start

    cached = torch.stack(cached_losses)  # (M, N_test)
    return {
        "paper": t_paper,
        "cached": t_cached,
        "stacked": t_stacked,
        # relative difference of the mean test loss per transfer, worst case
        "diff": float(
            max(
                ((cached - torch.stack(paper_losses)).mean(1).abs() / cached.mean(1)).max(),
                ((stacked_losses - cached).mean(1).abs() / cached.mean(1)).max(),
            )
        ),
    }


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()

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
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from taskonomy.data.bank import Bank
from taskonomy.data.generate import generate_bank
from taskonomy.nn.encoders import source_encoder
from taskonomy.train.loop import batches, lr_schedule, make_optimizer, per_image
from taskonomy.train.network import Architecture, mean_label_guess
from taskonomy.train.tensors import load_images, load_labels, sample_views, sizes_of
from taskonomy.transfer.encode import SPLITS
from taskonomy.transfer.fit import (
    TransferParams,
    build_readouts,
    fit_transfers,
    minibatch_seed,
    transfer_seed,
)
from taskonomy.transfer.stacked import use_stacked


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


SEED = 7  # the "run seed" of every transfer here


def bench_target(
    bank: Bank,
    target: str,
    encoders: list,
    sets: list,
    args: argparse.Namespace,
    breakdown: dict[str, float],
) -> dict[str, float]:
    # The pipeline's recipe (taskonomy.transfer.fit) for the cached routes; the paper route
    # below re-encodes images at every step but starts from the very same readouts
    # (build_readouts, same seeds and guess) and draws the same minibatches.
    # No early stopping (val_fraction=0): the paper route has no held-out scenes.
    arch = Architecture(args.encoder, args.width, args.bottleneck, args.decoder_width or None)
    params = TransferParams(steps=args.steps, batch_size=args.batch, lr=3e-3)
    names = [f"s{i}" for i in range(len(encoders))]
    sets = [[names[i] for i in srcs] for srcs in sets]
    views = {s: sample_views(bank, target, s)[0] for s in SPLITS}
    labels = {s: load_labels(bank, target, s) for s in SPLITS}
    channels = len(sets[0]) * args.bottleneck

    # --- this project's route: encode each source once, then train from the cache.
    t0 = time.perf_counter()
    cache: dict[str, dict[str, torch.Tensor]] = {}
    with torch.no_grad():
        for s in SPLITS:
            images = load_images(bank, "rgb", views[s])
            cache[s] = {
                n: per_image(lambda b, e=e: e(b["x"]), {"x": images})
                for n, e in zip(names, encoders, strict=True)
            }
    t_encode = time.perf_counter() - t0

    def route(stacked: str) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        fitted = fit_transfers(
            target, sets, cache, labels, bank, arch, replace(params, stacked=stacked),
            seed=SEED, threads=args.threads, val_fraction=0.0,
        )  # fmt: skip
        return fitted.losses, time.perf_counter() - t0 + t_encode

    cached, t_cached = route("never")
    stacked_losses, t_stacked = route("always")

    # --- the paper's route: per transfer, every step reads images and re-encodes them.
    t_paper = 0.0
    paper_losses = []
    guess = mean_label_guess(target, labels["small"], sizes_of(bank))
    seeds = [transfer_seed(SEED, target, srcs) for srcs in sets]
    readouts = build_readouts(target, sets, channels, bank, arch, seeds, guess)
    for ro, srcs in zip(readouts, sets, strict=True):
        encs = [encoders[names.index(n)] for n in srcs]
        opt = make_optimizer(list(ro.parameters()), params.lr, 0.0)  # as fit()
        sched = lr_schedule(opt, args.steps)
        idx = {"i": torch.arange(len(views["small"]))}
        stream = batches(
            idx, args.batch, torch.Generator().manual_seed(minibatch_seed(SEED, target))
        )
        ro.train()
        t_start = time.perf_counter()
        for _ in range(args.steps):
            t = time.perf_counter()
            rows = next(stream)["i"].numpy()
            batch = {k: v[rows] for k, v in labels["small"].items()}
            images = load_images(bank, "rgb", views["small"][rows])
            t1 = time.perf_counter()
            with torch.no_grad():
                x = torch.cat([e(images) for e in encs], dim=1)
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
            x = torch.cat([e(test_images) for e in encs], dim=1)
            paper_losses.append(ro.loss(ro(x), labels["test"]))
        t_paper += time.perf_counter() - t_start

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

"""Cost of the encoder's output stride: training steps of task networks and of stacked
transfers at stride 16 (2×2 grid at 32²) and 8 (4×4), interleaved so that a loaded machine
slows both alike; prints seconds per step side by side and their ratio (docs/representation.md).

    python benchmarks/bench_stride.py            # quick-preset shapes (32², width 48)
    python benchmarks/bench_stride.py --steps 40 --repeats 5
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import Tensor

from taskonomy.nn.heads import TaskModel, random_batch
from taskonomy.nn.readout import build_transfer
from taskonomy.train.loop import make_optimizer
from taskonomy.transfer.stacked import StackedTransfers, use_stacked

SIZES = {"n_object_classes": 15, "n_scene_classes": 6, "n_semantic_classes": 8}


def _timer(model: torch.nn.Module, loss: Callable[[], Tensor], steps: int) -> Callable[[], float]:
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], 1e-3, 0.0)

    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss().backward()
            opt.step()
        return (time.perf_counter() - t0) / steps

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--decoder-width", type=int, default=32)
    ap.add_argument("--bottleneck", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sources", type=int, default=10, help="transfers stacked per target")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--targets", default="normal,depth_zbuffer,segment_semantic,class_scene")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as every job runs (threads_per_job 1)
    timers: dict[tuple[str, str, int], Callable[[], float]] = {}
    for target in args.targets.split(","):
        gen = torch.Generator().manual_seed(0)
        batch = random_batch(target, args.batch, args.size, SIZES, gen)
        for stride in (16, 8):
            torch.manual_seed(0)
            net = TaskModel(target, image_size=args.size, sizes=SIZES,
                            bottleneck_channels=args.bottleneck, encoder_width=args.width,
                            decoder_width=args.decoder_width, output_stride=stride)  # fmt: skip
            timers[(target, "network", stride)] = _timer(
                net, lambda net=net, b=batch: net.loss(net(b), b).mean(), args.steps
            )
            g = args.size // stride
            ros = [build_transfer(target, 1, args.size, SIZES, args.bottleneck,
                                  decoder_width=args.decoder_width, output_stride=stride)
                   for _ in range(args.sources)]  # fmt: skip
            reps = torch.randn(args.batch, args.sources * args.bottleneck, g, g)
            if use_stacked("auto", target, args.size):  # as the pipeline trains them
                st = StackedTransfers(ros)
                timers[(target, "transfers", stride)] = _timer(
                    st, lambda st=st, b=batch, r=reps: st.per_model_loss(st(r), b).mean(0).sum(),
                    args.steps,
                )  # fmt: skip
            else:  # one after another: the sum of their losses steps them all at once
                one = reps[:, : args.bottleneck]
                mods = torch.nn.ModuleList(ros)
                timers[(target, "transfers", stride)] = _timer(
                    mods,
                    lambda ros=ros, b=batch, r=one: sum(ro.loss(ro(r), b).mean() for ro in ros),
                    args.steps,
                )  # fmt: skip
    times: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for _ in range(args.repeats):  # interleaved: load changes hit both strides alike
        for key, run in timers.items():
            times[key].append(run())
    print(f"{args.size}², width {args.width}, batch {args.batch}, {args.sources} stacked "
          f"transfers; seconds per step (median of {args.repeats})")  # fmt: skip
    print(f"{'target':18} {'what':10} {'stride 16':>10} {'stride 8':>10} {'ratio':>6}")
    for target in args.targets.split(","):
        for what in ("network", "transfers"):
            a = sorted(times[(target, what, 16)])[args.repeats // 2]
            b = sorted(times[(target, what, 8)])[args.repeats // 2]
            print(f"{target:18} {what:10} {a:10.4f} {b:10.4f} {b / a:6.2f}")


if __name__ == "__main__":
    main()

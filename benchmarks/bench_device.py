"""Per-stage throughput on the CPU and on a GPU, side by side, plus MAC-based estimates.

For each stage (task network, ``pixels`` network, encode, stacked transfers) it times a
few optimizer steps (forward passes for encode) on random data of the chosen shapes and
prints images/s on the CPU and on the GPU ("no CUDA device" where there is none), with
the GPU's utilization and peak memory when present. The transfer stage is also timed the
paper's way (re-encoding every minibatch through the frozen source encoder at every step)
on the GPU (else the CPU), and the ratio is printed.

``--estimate`` prints the presets' expected compute from multiply-add counts
(``taskonomy.nn.encoders.count_macs``) at an assumed sustained rate: an estimate, not a
measurement.

    python benchmarks/bench_device.py                      # quick shapes (32², width 48)
    python benchmarks/bench_device.py --size 64 --width 32 --batch 64   # standard shapes
    python benchmarks/bench_device.py --estimate --tflops 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from math import comb

import torch
from torch import nn

from taskonomy.nn.encoders import count_macs, source_encoder
from taskonomy.nn.heads import TaskModel, random_batch
from taskonomy.nn.readout import build_transfer
from taskonomy.pipeline.config import RunConfig, load_config
from taskonomy.tasks import get_task
from taskonomy.train.device import describe_device
from taskonomy.train.loop import make_optimizer
from taskonomy.transfer.orders import COMBINATION_POOL
from taskonomy.transfer.stacked import StackedTransfers

SIZES = {"n_semantic_classes": 17, "n_object_classes": 100, "n_scene_classes": 63,
         "n_jigsaw_permutations": 100}  # fmt: skip
TARGET = "depth_zbuffer"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(step: Callable[[], None], device: torch.device, steps: int) -> float:
    step()  # warm-up (kernel selection, allocations)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _train_step(model: nn.Module, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], 1e-3, 0.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    return step


def stage_rates(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Images per second of each stage on ``device``."""
    b, s = args.batch, args.size
    g = torch.Generator().manual_seed(0)
    batch = {k: v.to(device) for k, v in random_batch(TARGET, b, s, SIZES, g).items()}
    rates: dict[str, float] = {}
    torch.manual_seed(0)
    kw = {"image_size": s, "sizes": SIZES, "bottleneck_channels": args.bottleneck,
          "encoder_width": args.width}  # fmt: skip
    net = TaskModel(TARGET, encoder="small_resnet", **kw).to(device)
    rates["train"] = b / _time(_train_step(net, lambda: net.loss(net(batch), batch).mean()),
                               device, args.steps)  # fmt: skip
    pix = TaskModel(TARGET, encoder="pixels", **kw).to(device)
    rates["pixels"] = b / _time(_train_step(pix, lambda: pix.loss(pix(batch), batch).mean()),
                                device, args.steps)  # fmt: skip
    enc = net.encoder.eval()
    x = batch[get_task(TARGET).input]
    with torch.no_grad():
        rates["encode"] = b / _time(lambda: enc(x), device, args.steps)
        reps = enc(x)  # (B, C, h, w)
    m = args.transfers
    ros = [build_transfer(TARGET, 1, s, SIZES, args.bottleneck, source_channels=reps.shape[1])
           for _ in range(m)]  # fmt: skip
    stacked = StackedTransfers(ros).to(device)
    cached = reps.repeat(1, m, 1, 1)  # (B, M·C, h, w)

    def cached_loss() -> torch.Tensor:
        return stacked.per_model_loss(stacked(cached), batch).sum(0).mean()

    per_step = _time(_train_step(stacked, cached_loss), device, args.steps)
    rates["transfer (cached, stacked)"] = b * m / per_step

    # The paper trains each transfer alone: one encoder pass per transfer and step.
    encode_s = _time(lambda: enc(x), device, args.steps)
    paper = per_step + m * encode_s
    rates["transfer (paper route)"] = b * m / paper
    return rates


def compare(args: argparse.Namespace) -> None:
    cpu = torch.device("cpu")
    gpu = torch.device("cuda") if torch.cuda.is_available() else None
    torch.set_num_threads(args.threads)
    print(f"shapes: {args.size}², width {args.width}, batch {args.batch}, "
          f"{args.transfers} stacked transfers, {args.steps} timed steps")  # fmt: skip
    cpu_rates = stage_rates(args, cpu)
    gpu_rates: dict[str, float] = {}
    util, peak = "no CUDA device", "no CUDA device"
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats(gpu)
        gpu_rates = stage_rates(args, gpu)
        peak = f"{torch.cuda.max_memory_allocated(gpu) / 2**30:.2f} GiB"
        try:
            util = f"{torch.cuda.utilization(gpu)} %"
        except Exception as exc:  # pynvml missing: say so instead of guessing
            util = f"unavailable ({type(exc).__name__})"
    name = describe_device(gpu) if gpu is not None else "GPU"
    print(f"{'stage':30s} {'CPU img/s':>12s} {name + ' img/s':>24s}")
    for stage, rate in cpu_rates.items():
        g = f"{gpu_rates[stage]:.0f}" if gpu_rates else "no CUDA device"
        print(f"{stage:30s} {rate:12.0f} {g:>24s}")
    rates = gpu_rates or cpu_rates
    ratio = rates["transfer (cached, stacked)"] / rates["transfer (paper route)"]
    where = "GPU" if gpu_rates else "CPU (no CUDA device)"
    print(f"transfer stage vs the paper's route (re-encode every step), on the {where}: "
          f"{ratio:.1f}x faster")  # fmt: skip
    print(f"GPU utilization: {util}; peak GPU memory: {peak}")


def preset_macs(cfg: RunConfig) -> dict[str, float]:
    """Multiply-adds (forward + backward ≈ 3 × forward for training) of each stage of a
    preset's run; the number of higher-order transfers follows transfer/orders.py."""
    s, mc = cfg.data.size, cfg.model
    enc = source_encoder(TARGET, mc.encoder, 1, s, mc.bottleneck_channels, mc.width)
    enc_macs = count_macs(enc, (1, 3, s, s))
    with torch.no_grad():
        rep_shape = enc.to("meta")(torch.empty(1, 3, s, s, device="meta")).shape  # (1, C, h, w)
    ro = build_transfer(TARGET, 1, s, SIZES, mc.bottleneck_channels,
                        source_channels=rep_shape[1],
                        decoder_width=mc.decoder_width or mc.width)  # fmt: skip
    ro_macs = count_macs(ro, tuple(rep_shape))
    networks = [t for t in cfg.tasks if get_task(t).head is not None]
    targets = [t for t in networks if get_task(t).role == "task"]
    n_src = len(networks) + ("random" in cfg.tasks)
    higher = sum(
        comb(min(COMBINATION_POOL[k], n_src), k) if k in COMBINATION_POOL else int(k <= n_src)
        for k in range(2, cfg.transfer.max_order + 1)
    )
    n_transfers = len(targets) * (n_src + higher)
    images = cfg.data.scenes * cfg.data.views
    fr = cfg.data.splits
    # Images seen by the task networks (steps × batch, with each task's own schedule).
    train = [cfg.train.for_task(t) for t in networks]
    pixels = [cfg.pixels.for_task(t) for t in targets]
    seen_train = sum(p.steps * p.batch_size for p in train)
    seen_pixels = sum(p.steps * p.batch_size for p in pixels)
    return {
        "train": seen_train * 3 * (enc_macs + ro_macs),
        "pixels": seen_pixels * 3 * (enc_macs + ro_macs),
        "encode": n_src * images * (fr["small"] + fr["test"]) * enc_macs,
        "transfers": n_transfers * cfg.transfer.steps * cfg.transfer.batch_size * 3 * ro_macs,
        "n_transfers": float(n_transfers),
        # Optimizer steps: stacked transfers take one step per (target, order) group.
        "steps": float(
            sum(p.steps for p in train)
            + sum(p.steps for p in pixels)
            + len(targets) * cfg.transfer.max_order * cfg.transfer.steps
        ),
    }


def estimate(args: argparse.Namespace) -> None:
    rate = args.tflops * 1e12 / 2  # multiply-adds per second (1 MAC = 2 FLOPs)
    print(
        f"ESTIMATES from multiply-add counts at a sustained {args.tflops:g} TFLOP/s "
        "(unmeasured: no GPU here; small convolutions rarely reach a GPU's peak)"
    )
    print(f"and a floor of {args.ms_per_step:g} ms per optimizer step (small networks on a GPU are "
          "bound by kernel launches, not MACs); the larger of the two is the estimate")  # fmt: skip
    for preset in ("quick", "standard", "paper"):
        macs = preset_macs(load_config(preset=preset))
        n, steps = macs.pop("n_transfers"), macs.pop("steps")
        total = sum(macs.values())
        parts = ", ".join(f"{k} {v / rate / 3600:.2f} h" for k, v in macs.items())
        floor = steps * args.ms_per_step / 1e3 / 3600
        print(f"{preset:9s} {int(n):6d} transfers, {int(steps)} steps; {total:.3g} MACs -> "
              f"{total / rate / 3600:.2f} GPU-h ({parts}); step floor {floor:.2f} h; "
              f"estimate {max(floor, total / rate / 3600):.2f} GPU-hours")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--bottleneck", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--transfers", type=int, default=8, help="transfers stacked per target")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--estimate", action="store_true", help="MAC-based preset estimates")
    ap.add_argument("--tflops", type=float, default=20.0, help="assumed sustained TFLOP/s")
    ap.add_argument("--ms-per-step", type=float, default=4.0, help="assumed floor per step")
    args = ap.parse_args()
    if args.estimate:
        estimate(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()

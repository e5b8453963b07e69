"""Frozen source encoders and their cached representations (``encode`` jobs' recipe).

Each source encodes every view of the small and test splits once; transfers then read
their samples' rows from that cache instead of re-encoding images at every step.
Cache format, per split: ``{split}.npy`` (V, C, h, w) float32 and ``{split}_views.npy``
(V,) the global view ids of those rows, sorted.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from taskonomy.data.bank import Bank
from taskonomy.nn.encoders import source_encoder
from taskonomy.seeds import derived_seed
from taskonomy.tasks import get_task
from taskonomy.train.device import place, to_channels_last
from taskonomy.train.loop import per_image
from taskonomy.train.network import Architecture
from taskonomy.train.tensors import CPU, sample_views

SPLITS = ("small", "test")


def frozen_encoder(
    source: str,
    arch: Architecture,
    image_size: int,
    *,
    weights: Path | None = None,
    seed: int = 0,
) -> nn.Module:
    """A source's frozen encoder: ``random`` is the family encoder at its initialization
    drawn from the run's ``seed`` (role ``encoder-init``); any other source loads the
    encoder of its task network (``weights``: that network's ``model.safetensors``)."""
    if source == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, "encoder-init", source))
            return source_encoder(
                "random", arch.encoder, 1, image_size, arch.bottleneck_channels, arch.width,
                arch.output_stride,
            )  # fmt: skip
    if weights is None:
        raise ValueError(f"frozen_encoder: source {source!r} needs its network's weights")
    # Only the encoder: building the whole task model would also compute its loss options
    # (class weights read from every large-split label) just to load and drop them.
    # A multi-view task's tower encodes one view; transfers concatenate views themselves.
    enc = source_encoder(source, arch.encoder, 1, image_size, arch.bottleneck_channels,
                         arch.width, arch.output_stride)  # fmt: skip
    prefix = "encoder.encoder." if get_task(source).views > 1 else "encoder."  # TaskModel keys
    state = load_file(str(weights))
    enc.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return enc


def encode_split(
    encoder: nn.Module,
    bank: Bank,
    input_key: str,
    split: str,
    device: torch.device = CPU,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[Tensor, np.ndarray, float]:
    """(reps (V, C, h, w) float32 on the CPU, the split's view ids (V,), compute seconds).

    On a GPU the images stay on the host (pinned) and go over in chunks; the cache is
    written from the host either way.
    """
    encoder = to_channels_last(encoder.to(device).eval(), channels_last)
    views = bank.split_views(split)
    images = torch.from_numpy(np.ascontiguousarray(bank.get(input_key, views)))
    data = place({"x": images}, device, share=0.0)  # 0: pinned host memory on a GPU
    t0 = time.perf_counter()
    reps = per_image(lambda b: encoder(b["x"]), data, device=device, precision=precision)
    return reps.cpu().float(), views, time.perf_counter() - t0  # (N, C, h, w)


def save_cache(folder: Path, split: str, reps: Tensor, views: np.ndarray) -> None:
    """Write one split's cache (inside a job folder, which is committed atomically)."""
    np.save(folder / f"{split}.npy", np.ascontiguousarray(reps.numpy().astype(np.float32)))
    np.save(folder / f"{split}_views.npy", np.ascontiguousarray(views))


def cached_reps(bank: Bank, target: str, split: str, folder: Path) -> Tensor:
    """One source's cached representation of a target's samples: (N, views·C, h, w)."""
    views, _ = sample_views(bank, target, split)  # (N,) or (N, k)
    cached = np.load(folder / f"{split}.npy", mmap_mode="r")  # (V, C, h, w)
    order = np.load(folder / f"{split}_views.npy")
    rows = np.searchsorted(order, views)  # same shape as views
    rep = np.asarray(cached[rows.reshape(-1)])  # (N·k, C, h, w)
    return torch.from_numpy(rep.reshape(views.shape[0], -1, *rep.shape[2:]))

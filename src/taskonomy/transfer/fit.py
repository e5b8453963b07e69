"""Fitting a group of transfers into one target: the recipe behind ``transfer`` jobs.

Every transfer is a fresh readout + target decoder (:func:`build_readouts`) trained on
cached source representations (:mod:`taskonomy.transfer.encode`) of the target's small
split, early stopping on held-out scenes of it, then scored per test image. A group of
same-order transfers trains either as one stacked network
(:mod:`taskonomy.transfer.stacked`) or one after another; both give the same losses.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from taskonomy.data.bank import Bank
from taskonomy.nn.readout import TransferReadout, build_transfer
from taskonomy.seeds import derived_seed
from taskonomy.train.device import place, to_channels_last
from taskonomy.train.loop import fit, per_image
from taskonomy.train.network import Architecture, holdout, loss_kwargs, mean_label_guess
from taskonomy.train.tensors import CPU, sizes_of
from taskonomy.transfer.stacked import StackedTransfers, use_stacked

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferParams:
    """Optimizer schedule of the transfers into one target (AdamW, no weight decay)."""

    steps: int
    batch_size: int
    lr: float
    stacked: Literal["auto", "always", "never"] = "auto"

    @property
    def log_every(self) -> int:
        return max(1, self.steps // 10)


def transfer_seed(seed: int, target: str, sources: Sequence[str]) -> int:
    """The initialization seed of one transfer: the same whatever job trains it (its
    order's group, its hyperparameters)."""
    return derived_seed(seed, "transfer-init", target, *sources)


def minibatch_seed(seed: int, target: str) -> int:
    """The minibatch order shared by every transfer into ``target``, stacked or not."""
    return derived_seed(seed, "transfer-batches", target)


def build_readouts(
    target: str,
    source_sets: Sequence[Sequence[str]],
    channels: int | Sequence[int],
    bank: Bank,
    arch: Architecture,
    seeds: Sequence[int],
    guess: Tensor | None = None,
) -> list[TransferReadout]:
    """One freshly initialized readout + target decoder per source set (seeded each), each
    starting at ``guess`` when given (the small split's: transfers see only that split)."""
    out = []
    kwargs = loss_kwargs(target, bank)
    # One input width per set (outside encoders bring their own channel counts).
    widths = [channels] * len(source_sets) if isinstance(channels, int) else list(channels)
    for srcs, seed, width in zip(source_sets, seeds, widths, strict=True):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ro = build_transfer(
                target, len(srcs), bank.size[0], sizes_of(bank), arch.bottleneck_channels,
                source_channels=width, decoder_width=arch.decoder_channels,
                loss_kwargs=kwargs, output_stride=arch.output_stride,
            )  # fmt: skip
        if guess is not None:
            ro.start_from_guess(guess)
        out.append(ro)
    return out


@dataclass
class FittedTransfers:
    """The trained transfers of one group and their per-image test losses."""

    losses: Tensor  # (M, N_test), rows in the order of the source sets, on the CPU
    best_steps: list[int]
    train_seconds: float  # the optimizer loops
    compute_seconds: float  # training + test evaluation
    stacked: bool
    # Weights to save, by file stem: "readouts" (stacked) or "readout0", "readout1", ...
    modules: dict[str, nn.Module] = field(default_factory=dict)


def fit_transfers(
    target: str,
    source_sets: Sequence[Sequence[str]],
    reps: Mapping[str, Mapping[str, Tensor]],
    labels: Mapping[str, Mapping[str, Tensor]],
    bank: Bank,
    arch: Architecture,
    params: TransferParams,
    *,
    seed: int,
    threads: int = 1,
    device: torch.device = CPU,
    precision: str = "fp32",
    channels_last: bool = False,
    logger: logging.Logger | None = None,
    val_fraction: float = 0.15,
) -> FittedTransfers:
    """Fit one transfer per source set into ``target`` and score it on the test split.

    ``reps[split][source]``: a source's representation (N, C, h, w) of the target's samples
    of ``split`` ("small", "test"); ``labels[split]``: the target's labels (and mask).
    ``seed`` is the run's seed: each transfer's initialization and the shared minibatch
    order derive from it (:func:`transfer_seed`, :func:`minibatch_seed`).
    ``val_fraction`` of the small split's scenes is held out for early stopping (0: none).
    On a GPU (``device``) the representations stay on it when they fit, else in pinned host
    memory (:func:`taskonomy.train.device.place`); ``params.stacked`` "auto" then stacks
    every head kind; ``precision``/``channels_last`` as in
    :func:`taskonomy.train.network.fit_task_network`.
    """
    log_to = logger or _LOG
    torch.set_num_threads(threads)
    sets = [list(s) for s in source_sets]
    small_reps = [torch.cat([reps["small"][s] for s in srcs], dim=1) for srcs in sets]
    test_reps = [torch.cat([reps["test"][s] for s in srcs], dim=1) for srcs in sets]
    small_y, test_y = dict(labels["small"]), dict(labels["test"])
    widths = [int(r.shape[1]) for r in small_reps]  # input channels of each transfer
    offsets = [0, *itertools.accumulate(widths)]
    seeds = [transfer_seed(seed, target, srcs) for srcs in sets]
    guess = mean_label_guess(target, small_y, sizes_of(bank))
    fresh = build_readouts(target, sets, widths, bank, arch, seeds, guess)
    readouts = [to_channels_last(ro.to(device), channels_last) for ro in fresh]
    # Same minibatch order for every transfer into the target, stacked or not; each
    # transfer keeps its own best step on held-out scenes of the small split.
    hp: dict[str, Any] = {
        "steps": params.steps, "batch_size": params.batch_size, "lr": params.lr,
        "seed": minibatch_seed(seed, target), "log_every": params.log_every,
        "precision": precision,
    }  # fmt: skip
    small = {**small_y, "reps": torch.cat(small_reps, dim=1)}
    if val_fraction > 0:
        train, val = holdout(bank, target, small, "small", val_fraction)
    else:
        train, val = small, {k: v[:0] for k, v in small.items()}
    train, val = place(train, device), place(val, device)
    n_val = int(val["reps"].shape[0])

    def cols(data: dict[str, Tensor], idx: Sequence[int]) -> dict[str, Tensor]:
        """``data`` with the representation channels of transfers ``idx`` only."""
        blocks = [data["reps"][:, offsets[i] : offsets[i + 1]] for i in idx]
        return {**data, "reps": blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)}

    stacked = use_stacked(params.stacked, target, bank.size[0], device.type)
    modules: dict[str, nn.Module] = {}
    rows: list[Tensor] = [torch.empty(0)] * len(sets)
    best_steps = [0] * len(sets)
    seconds = 0.0
    t0 = time.perf_counter()
    if stacked:
        # Grouped convolutions need one input width: transfers of equal width stack together
        # (every set of task sources: one group); each group computes what its transfers
        # would one by one, up to float rounding (see transfer/stacked.py).
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(widths):
            groups.setdefault(w, []).append(i)
        for g, idx in enumerate(groups.values()):
            model = to_channels_last(StackedTransfers([readouts[i] for i in idx]), channels_last)

            def stacked_loss(b: dict[str, Tensor], model: StackedTransfers = model) -> Tensor:
                return model.per_model_loss(model(b["reps"]), b).T

            test = place({**test_y, "reps": torch.cat([test_reps[i] for i in idx], dim=1)},
                         device)  # (N, M·C, h, w)  # fmt: skip
            log = fit(model, stacked_loss, cols(train, idx),
                      val=cols(val, idx) if n_val else None, models=len(idx), **hp)  # fmt: skip
            group_losses = per_image(stacked_loss, test, device=device, precision=precision).T
            for j, i in enumerate(idx):
                rows[i], best_steps[i] = group_losses[j], log.best_steps[j]
            seconds += log.seconds
            modules["readouts" if len(groups) == 1 else f"readouts{g}"] = model
    else:
        for i, ro in enumerate(readouts):

            def step_loss(b: dict[str, Tensor], ro: TransferReadout = ro) -> Tensor:
                return ro.loss(ro(b["reps"]), b)

            own_val = cols(val, [i]) if n_val else None
            log = fit(ro, step_loss, cols(train, [i]), val=own_val, **hp)
            seconds += log.seconds
            best_steps[i] = log.best_step
            own_test = place({**test_y, "reps": test_reps[i]}, device)
            rows[i] = per_image(step_loss, own_test, device=device, precision=precision)
            modules[f"readout{i}"] = ro
    losses = torch.stack(rows)  # (M, N_test)
    compute = time.perf_counter() - t0
    log_to.info(
        "%d transfers into %s (%s): %.1fs, best steps %s", len(sets), target,
        "stacked" if stacked else "one by one", compute, best_steps,
    )  # fmt: skip
    losses = losses.float().cpu()
    return FittedTransfers(losses, list(best_steps), seconds, compute, stacked, modules)

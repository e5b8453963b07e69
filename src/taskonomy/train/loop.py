"""The training loop, readable top to bottom (after nanoGPT).

Data is a ``dict[str, Tensor]`` held in memory, every tensor with the sample count N as
its leading dimension: the splits of a CPU-sized bank fit easily, and indexing tensors
beats per-sample Python ``__getitem__`` calls by orders of magnitude.

``step_loss(batch) -> Tensor (B,)`` computes per-image losses of a minibatch; the loop
minimizes their mean. Minibatches come from a ``torch.Generator`` seeded by the caller,
so a seed makes a CPU run identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from taskonomy.errors import TaskonomyError, input_error
from taskonomy.train.device import CPU, autocast, module_device

Batch = dict[str, Tensor]
StepLoss = Callable[[Batch], Tensor]


@dataclass
class TrainLog:
    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss every `log_every` steps
    val_losses: list[float] = field(default_factory=list)  # every `log_every` steps
    best_step: int = 0  # the step whose weights were kept (early stopping on `val`)
    best_steps: list[int] = field(default_factory=list)  # per packed model (``models=M``)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


def _n_samples(data: Mapping[str, Tensor]) -> int:
    sizes = {k: v.shape[0] for k, v in data.items()}
    if not sizes:
        raise input_error("training data", {}, "at least one tensor")
    if len(set(sizes.values())) != 1:
        raise input_error("leading dimensions of the data", sizes, "one sample count N")
    return next(iter(sizes.values()))


def _take(v: Tensor, idx: Tensor, device: torch.device) -> Tensor:
    """Rows ``idx`` of ``v`` on ``device``: indexed where ``v`` lives (a GPU-resident
    split), or gathered on the host and copied asynchronously through pinned memory."""
    if v.device.type != "cpu":
        return v[idx.to(v.device, non_blocking=True)]
    rows = v[idx]
    if device.type == "cpu":
        return rows
    return rows.pin_memory().to(device, non_blocking=True)


def batches(
    data: Mapping[str, Tensor],
    batch_size: int,
    generator: torch.Generator,
    device: torch.device = CPU,
) -> Iterator[Batch]:
    """Endless shuffled minibatches on ``device``; each epoch is a fresh permutation.

    The permutation is always drawn on the CPU from ``generator``: the minibatch order
    of a seed is the same on every device.
    """
    n = _n_samples(data)
    while True:
        order = torch.randperm(n, generator=generator)  # (N,)
        for start in range(0, n - min(batch_size, n) + 1, batch_size):
            idx = order[start : start + batch_size]  # (B,)
            yield {k: _take(v, idx, device) for k, v in data.items()}


def make_optimizer(params: list[nn.Parameter], lr: float, weight_decay: float) -> Optimizer:
    """AdamW, fused into one kernel when every parameter allows it (CPU or CUDA floats).

    Fusing saves ~10 % of a small transfer's step on a CPU (many tiny parameter tensors).
    """
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)


def lr_schedule(opt: Optimizer, steps: int, warmup: float = 0.05) -> LambdaLR:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to 0.

    Without the warm-up, Adam's first full-size steps could stall a fresh network on the
    constant-guess plateau (seen with depth at lr 3e-3).
    """
    n_warm = max(1, round(warmup * steps))

    def factor(step: int) -> float:  # step = optimizer steps taken so far
        return min(1.0, (step + 1) / n_warm) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))

    return LambdaLR(opt, factor)


def fit(
    model: nn.Module,
    step_loss: StepLoss,
    data: Mapping[str, Tensor],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    seed: int = 0,
    log_every: int = 50,
    val: Mapping[str, Tensor] | None = None,
    models: int | None = None,
    precision: str = "fp32",
) -> TrainLog:
    """Minimize the mean per-image loss with AdamW: linear warm-up over the first 5 % of
    the steps, then a cosine decay (:func:`lr_schedule`).

    With ``val`` (held-out samples), the weights of the step with the lowest validation
    loss (checked before training and every ``log_every`` steps) are kept: early stopping,
    which small training splits need to avoid memorizing. ``best_step`` 0 means no step
    beat the initial weights.

    ``models=M`` trains M independent models packed in one module (e.g.
    :class:`~taskonomy.transfer.stacked.StackedTransfers`): ``step_loss`` then returns
    (B, M), the objective is the sum over models of each one's mean, and early stopping
    keeps each model's own best step. Every parameter's first dimension must be M equal
    blocks, block m belonging to model m.

    Minibatches go to the model's device (``data`` may stay on the host, ideally pinned:
    :func:`taskonomy.train.device.place`); ``precision="bf16"`` runs the forward pass and
    the loss under bf16 autocast (gradients and AdamW stay in float32).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TaskonomyError("fit: the model has no trainable parameters.")
    if models is not None:
        bad = [tuple(p.shape) for p in params if p.ndim == 0 or p.shape[0] % models]
        if bad:
            raise input_error(f"parameter shapes for {models} packed models", bad,
                              f"a first dimension divisible by {models}")  # fmt: skip
    opt = make_optimizer(params, lr, weight_decay)
    sched = lr_schedule(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    device = module_device(model)
    log = TrainLog()
    model.train()
    t0 = time.perf_counter()
    running, count = 0.0, 0
    n_models = models or 1
    # A single model also restores its buffers (BatchNorm statistics) with its weights.
    tracked = params + ([] if models is not None else list(model.buffers()))

    def val_loss(held_out: Mapping[str, Tensor]) -> Tensor:
        model.eval()
        v = per_image(step_loss, held_out, device=device, precision=precision)
        v = v.float().mean(0).reshape(n_models).cpu()  # (M,)
        model.train()
        return v

    # Early stopping: the starting point (e.g. the guess) is a candidate too.
    best = val_loss(val) if val is not None else torch.full((n_models,), math.inf)  # (M,)
    best_steps = [0 if val is not None else steps] * n_models
    kept = [t.detach().clone() for t in tracked] if val is not None else []
    stream = batches(data, batch_size, gen, device)
    for step in range(1, steps + 1):
        batch = next(stream)
        with autocast(device, precision):
            per = step_loss(batch)  # (B,) or (B, M)
        loss = per.float().mean(0).sum()  # each model's mean loss; M models: their sum
        if not torch.isfinite(loss):
            raise TaskonomyError(
                f"fit: the loss became {loss.item()} at step {step}; lower the learning rate."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running, count = running + loss.item() / n_models, count + 1
        if step % log_every == 0 or step == steps:
            log.losses.append(running / count)
            running, count = 0.0, 0
            if val is not None:
                v = val_loss(val)
                log.val_losses.append(float(v.mean()))
                better = v < best  # (M,) which models improved
                on_dev = better.to(device)
                for saved, t in zip(kept, tracked, strict=True):
                    _keep_improved(saved, t.detach(), on_dev)
                best = torch.where(better, v, best)
                for m in torch.nonzero(better).flatten().tolist():
                    best_steps[m] = step
    if val is not None:
        with torch.no_grad():
            for saved, t in zip(kept, tracked, strict=True):
                t.copy_(saved)
    log.best_steps = best_steps
    log.best_step = max(best_steps)
    log.steps = steps
    log.seconds = time.perf_counter() - t0
    model.eval()
    return log


def _keep_improved(saved: Tensor, current: Tensor, better: Tensor) -> None:
    """Copy the blocks of ``current`` whose model improved (``better`` (M,)) into ``saved``.

    Block m of the first dimension belongs to model m. Selection, not arithmetic: exact.
    Works for any memory layout (channels_last weights cannot be ``view``-ed flat).
    """
    m = better.shape[0]
    if current.ndim == 0 or m == 1:
        if bool(better[0]):
            saved.copy_(current)
        return
    mask = better.repeat_interleave(current.shape[0] // m)  # (first dim,)
    saved.copy_(torch.where(mask.view(-1, *[1] * (current.ndim - 1)), current, saved))


@torch.no_grad()
def per_image(
    fn: Callable[[Batch], Tensor],
    data: Mapping[str, Tensor],
    batch_size: int = 256,
    *,
    device: torch.device | None = None,
    precision: str = "fp32",
) -> Tensor:
    """Apply ``fn`` (batch → (B,) or (B, ...)) over all samples in order; concatenate.

    With ``device``, host chunks are copied there first (the result stays on it);
    ``precision="bf16"``: under bf16 autocast, results returned as float32.
    """
    n = _n_samples(data)
    dev = device or CPU

    def chunk(s: int) -> Batch:
        b = {k: v[s : s + batch_size] for k, v in data.items()}
        if device is None or device.type == "cpu":
            return b
        return {k: v.to(device, non_blocking=v.is_pinned()) for k, v in b.items()}

    outs = []
    for s in range(0, n, batch_size):
        with autocast(dev, precision):
            out = fn(chunk(s))
        outs.append(out if precision == "fp32" else out.float())
    return torch.cat(outs)  # (N, ...)

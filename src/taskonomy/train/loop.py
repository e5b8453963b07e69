"""The training loop, readable top to bottom (after nanoGPT).

Data is a ``dict[str, Tensor]`` held in memory, every tensor with the sample count N as
its leading dimension: the splits of a CPU-sized bank fit easily, and indexing tensors
beats per-sample Python ``__getitem__`` calls by orders of magnitude.

``step_loss(batch) -> Tensor (B,)`` computes per-image losses of a minibatch; the loop
minimizes their mean. Minibatches come from a ``torch.Generator`` seeded by the caller,
so a seed makes a CPU run identical.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from taskonomy.errors import TaskonomyError, input_error

Batch = dict[str, Tensor]
StepLoss = Callable[[Batch], Tensor]


@dataclass
class TrainLog:
    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss every `log_every` steps
    val_losses: list[float] = field(default_factory=list)  # every `log_every` steps
    best_step: int = 0  # the step whose weights were kept (early stopping on `val`)

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


def batches(
    data: Mapping[str, Tensor], batch_size: int, generator: torch.Generator
) -> Iterator[Batch]:
    """Endless shuffled minibatches; each epoch is a fresh permutation."""
    n = _n_samples(data)
    while True:
        order = torch.randperm(n, generator=generator)  # (N,)
        for start in range(0, n - min(batch_size, n) + 1, batch_size):
            idx = order[start : start + batch_size]  # (B,)
            yield {k: v[idx] for k, v in data.items()}


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
) -> TrainLog:
    """Minimize the mean per-image loss with AdamW and a cosine learning-rate schedule.

    With ``val`` (held-out samples), the weights of the step with the lowest validation
    loss (checked every ``log_every`` steps) are kept: early stopping, which small
    training splits need to avoid memorizing.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TaskonomyError("fit: the model has no trainable parameters.")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    gen = torch.Generator().manual_seed(seed)
    log = TrainLog()
    model.train()
    t0 = time.perf_counter()
    running, count = 0.0, 0
    best, best_state = math.inf, None
    stream = batches(data, batch_size, gen)
    for step in range(1, steps + 1):
        batch = next(stream)
        loss = step_loss(batch).mean()  # (B,) → scalar
        if not torch.isfinite(loss):
            raise TaskonomyError(
                f"fit: the loss became {loss.item()} at step {step}; lower the learning rate."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running, count = running + loss.item(), count + 1
        if step % log_every == 0 or step == steps:
            log.losses.append(running / count)
            running, count = 0.0, 0
            if val is not None:
                model.eval()
                v = float(per_image(step_loss, val).mean())
                model.train()
                log.val_losses.append(v)
                if v < best:
                    best, log.best_step = v, step
                    best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        log.best_step = steps
    log.steps = steps
    log.seconds = time.perf_counter() - t0
    model.eval()
    return log


@torch.no_grad()
def per_image(
    fn: Callable[[Batch], Tensor], data: Mapping[str, Tensor], batch_size: int = 256
) -> Tensor:
    """Apply ``fn`` (batch → (B,) or (B, ...)) over all samples in order; concatenate."""
    n = _n_samples(data)
    outs = [
        fn({k: v[s : s + batch_size] for k, v in data.items()}) for s in range(0, n, batch_size)
    ]
    return torch.cat(outs)  # (N, ...)

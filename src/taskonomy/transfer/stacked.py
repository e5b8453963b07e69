"""Train many transfers into one target as one model: the CPU lever for the transfer stage.

M readouts of the same architecture (same target, same order) become one network whose
convolutions are grouped (``groups=M``), whose GroupNorms have M times the groups, and
whose linear layers are block-diagonal (an einsum per model). Each model only ever sees
its own channel block, so the stacked network computes exactly the M separate networks:
same outputs, same per-model gradients; AdamW is element-wise, so optimizing the stacked
parameters is optimizing each model on its own. Mathematically, that is: grouped kernels of
another group count sum in another order, so outputs agree to float rounding only, and
training can amplify that (up to 2 % of a transfer's mean test loss after 200 steps on the
quick preset, docs/active.md). What changes is the cost: one grouped
kernel launch instead of M small ones, which on a CPU is where the time goes for tiny
convolutions (see ``benchmarks/bench_transfer.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from taskonomy.errors import input_error
from taskonomy.nn.decoders import DECODERS, DenseDecoder, PooledDecoder, is_dense
from taskonomy.nn.heads import TaskHead
from taskonomy.nn.readout import TransferReadout
from taskonomy.tasks import get_task


def use_stacked(mode: str, target: str, image_size: int, device_type: str = "cpu") -> bool:
    """Whether to train a group of transfers stacked: ``mode`` "always", "never" or
    "auto" (the pipeline's ``transfer.stacked``), on a device of ``device_type``."""
    if mode != "auto":
        return mode == "always"
    if device_type != "cpu":
        # On a GPU one grouped launch over M transfers beats M small launches for every
        # head kind: the device is otherwise idle between tiny kernels.
        return True
    head = get_task(target).head
    if head is None or not is_dense(head.decoder):
        return True
    # Dense regression maps (1-3 channels) gain up to 64² (measured at 32² and 64²);
    # many-channel maps (class logits, embeddings) do not: grouped kernels lose to plain
    # ones on the full-resolution output (bench_transfer.py).
    return DECODERS.canonical(head.decoder) == "dense" and image_size <= 64


def _stack_conv(convs: Sequence[nn.Conv2d | nn.ConvTranspose2d]) -> nn.Module:
    c0 = convs[0]
    m = len(convs)
    cls = type(c0)
    out = cls(
        c0.in_channels * m, c0.out_channels * m, c0.kernel_size, c0.stride, c0.padding,  # type: ignore[arg-type]
        groups=c0.groups * m, bias=c0.bias is not None, dtype=c0.weight.dtype,
    )  # fmt: skip
    with torch.no_grad():
        # Conv2d weights are (out, in/groups, k, k), ConvTranspose2d ones (in, out/groups, k, k):
        # either way the first dimension is the one that is blocked by group.
        out.weight.copy_(torch.cat([c.weight for c in convs]))
        if out.bias is not None:
            out.bias.copy_(torch.cat([c.bias for c in convs]))  # type: ignore[misc]
    return out


def _stack_norm(norms: Sequence[nn.GroupNorm]) -> nn.GroupNorm:
    n0, m = norms[0], len(norms)
    out = nn.GroupNorm(n0.num_groups * m, n0.num_channels * m, n0.eps, n0.affine)
    out.to(n0.weight.dtype if n0.affine else torch.get_default_dtype())
    if n0.affine:
        with torch.no_grad():
            out.weight.copy_(torch.cat([n.weight for n in norms]))
            out.bias.copy_(torch.cat([n.bias for n in norms]))
    return out


class StackedLinear(nn.Module):
    """M independent linear layers applied to (B, M·in) → (B, M·out)."""

    def __init__(self, linears: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.m = len(linears)
        self.weight = nn.Parameter(torch.stack([lin.weight.detach() for lin in linears]))
        self.bias = nn.Parameter(torch.stack([lin.bias.detach() for lin in linears]))

    def forward(self, x: Tensor) -> Tensor:
        xb = x.reshape(x.shape[0], self.m, -1)  # (B, M, in)
        y = torch.einsum("bmi,moi->bmo", xb, self.weight) + self.bias  # (B, M, out)
        return y.reshape(x.shape[0], -1)


def _stack_layer(layers: Sequence[nn.Module]) -> nn.Module:
    first = layers[0]
    if isinstance(first, nn.Conv2d | nn.ConvTranspose2d):
        return _stack_conv(layers)  # type: ignore[arg-type]
    if isinstance(first, nn.GroupNorm):
        return _stack_norm(layers)  # type: ignore[arg-type]
    if isinstance(first, nn.Linear):
        return StackedLinear(layers)  # type: ignore[arg-type]
    if isinstance(first, nn.Sequential):
        return nn.Sequential(*(_stack_layer(group) for group in zip(*layers, strict=True)))
    if isinstance(
        first,
        nn.ReLU
        | nn.Upsample
        | nn.Sigmoid
        | nn.Tanh
        | nn.Identity
        | nn.AdaptiveAvgPool2d
        # PixelShuffle maps channels (4c..4c+3) to channel c: model blocks stay contiguous.
        | nn.PixelShuffle,
    ):
        return first  # parameter-free and per-channel (block): shared as is
    raise input_error("layer to stack", type(first).__name__, "Conv2d, GroupNorm, Linear, …")


class StackedTransfers(nn.Module):
    """M :class:`TransferReadout` s of one target and order, trained as one network.

    ``forward(reps)``: reps (B, M·C_in, h, w), model m's input in channel block m →
    predictions (M, B, *prediction shape).
    """

    def __init__(self, readouts: Sequence[TransferReadout]) -> None:
        super().__init__()
        if not readouts:
            raise input_error("readouts to stack", 0, "at least one")
        heads = [r.head for r in readouts]
        if any(h is None for h in heads):
            raise input_error("readouts to stack", "a readout without head", "full transfers")
        self.m = len(readouts)
        self.readout = _stack_layer([r.readout for r in readouts])
        # Model 0's head supplies the loss, activation and label layout shared by all M; kept
        # in a tuple so its (untrained) parameters are not registered in the stacked model.
        self._proto: tuple[TaskHead] = (readouts[0].head,)  # type: ignore[assignment]
        decoders: list[Any] = [h.decoder for h in heads]  # type: ignore[union-attr]
        if isinstance(decoders[0], DenseDecoder):
            self.body = _stack_layer([d.body for d in decoders])
            self.out = _stack_layer([d.head for d in decoders])
            self.prior = nn.Parameter(torch.cat([d.prior.detach() for d in decoders]))
        elif isinstance(decoders[0], PooledDecoder):
            self.body = _stack_layer([d.conv for d in decoders])
            self.out = _stack_layer([d.mlp for d in decoders])
        else:
            raise input_error("decoder to stack", type(decoders[0]).__name__, "dense or pooled")

    @property
    def head(self) -> TaskHead:
        return self._proto[0]

    def forward(self, reps: Tensor) -> Tensor:
        b = reps.shape[0]
        z = self.readout(reps)  # (B, M·C, h, w)
        dec = self.head.decoder
        if isinstance(dec, DenseDecoder):
            y = dec.finish(self.out(self.body(z)), self.prior)  # (B, M·out, H, W)
            y = y.reshape(b, self.m, -1, *y.shape[-2:]).transpose(0, 1)  # (M, B, out, H, W)
        else:
            assert isinstance(dec, PooledDecoder)
            h = dec.pool(self.body(z))  # (B, M·w, 2, 2)
            y = dec.act(self.out(h.flatten(1)))  # (B, M·out)
            y = y.reshape(b, self.m, -1).transpose(0, 1)  # (M, B, out)
        if self.head.kind == "vector":
            y = y.reshape(self.m, b, *self.head.label_shape)
        return y

    def per_model_loss(self, preds: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """(M, B) per-image losses of each model's predictions."""
        return torch.stack([self.head.loss(p, batch) for p in preds])

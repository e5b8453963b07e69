"""Transfer readout D(s→t): shallow convs on frozen source representations + target decoder.

For a transfer of order k the k source representations (B, C_rep, h, w) are concatenated
channel-wise into (B, k·C_rep, h, w). The readout is two 3×3 convolutions:

    conv1: in_channels → 16·k   (GroupNorm, ReLU)   hidden width grows with the order:
    conv2: 16·k → out_channels  (linear)             16, 32, 48, ... for k = 1, 2, 3, ...

``out_channels`` is the representation width the target decoder expects (C_rep = 8), so
the fresh target decoder is the same network the target's own task model uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch import Tensor, nn

from taskonomy.errors import input_error
from taskonomy.nn.encoders import OUTPUT_STRIDE, representation_shape
from taskonomy.nn.heads import TaskHead
from taskonomy.tasks.spec import TaskSpec

WIDTH_PER_ORDER = 16


def readout_width(order: int, width_per_order: int = WIDTH_PER_ORDER) -> int:
    """Hidden width of the readout for a transfer of ``order`` sources."""
    return width_per_order * order


class TransferReadout(nn.Module):
    """Two 3×3 convs (hidden width ``width_per_order·order``), then the optional target head.

    Input (B, in_channels, h, w); output (B, out_channels, h, w) without a head, else the
    head's prediction.
    """

    def __init__(
        self,
        in_channels: int,
        order: int,
        out_channels: int,
        head: TaskHead | None = None,
        width_per_order: int = WIDTH_PER_ORDER,
    ) -> None:
        super().__init__()
        if order < 1:
            raise input_error("transfer order", order, "an integer >= 1")
        if in_channels < order:
            raise input_error(
                "readout input channels", in_channels, f">= order ({order}), one block per source"
            )
        hidden = readout_width(order, width_per_order)
        self.order = order
        self.readout = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, 1, 1),
            nn.GroupNorm(math.gcd(8, hidden), hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 3, 1, 1),
        )
        self.head = head

    def forward(self, reps: Tensor) -> Tensor:
        z = self.readout(reps)  # (B, out_channels, h, w)
        return z if self.head is None else self.head(z)

    def start_from_guess(self, guess: Tensor) -> None:
        """Start the head at the target's guess (:meth:`TaskHead.start_from_guess`)."""
        self._need_head().start_from_guess(guess)

    def loss(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image loss (B,) of the target task."""
        return self._need_head().loss(pred, batch)

    def metric(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image metric (B,) of the target task."""
        return self._need_head().metric(pred, batch)

    def _need_head(self) -> TaskHead:
        if self.head is None:
            raise input_error(
                "readout head", None, "a TaskHead", "Build it with build_transfer(...)."
            )
        return self.head


def build_transfer(
    target: TaskSpec | str,
    order: int,
    image_size: int = 64,
    sizes: Mapping[str, int] | None = None,
    bottleneck_channels: int = 8,
    source_channels: int | None = None,
    decoder_width: int = 32,
    width_per_order: int = WIDTH_PER_ORDER,
    loss_kwargs: Mapping[str, object] | None = None,
    output_stride: int = OUTPUT_STRIDE,
) -> TransferReadout:
    """Readout + fresh target decoder for ``order`` concatenated source representations.

    ``source_channels`` is the total channel count of the concatenated representations
    (default ``order · bottleneck_channels``; multi-view sources contribute more).
    """
    c, h, w = representation_shape(image_size, bottleneck_channels, 1, output_stride)
    in_channels = source_channels if source_channels is not None else order * c
    head = TaskHead(target, c, (h, w), image_size, sizes, decoder_width, loss_kwargs)
    return TransferReadout(in_channels, order, c, head, width_per_order)

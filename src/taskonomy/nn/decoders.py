"""Task decoders: representation (B, C, h, w) → task output. Fresh (untrained) per task.

Kinds (``DECODERS`` registry, all built as ``factory(in_channels, out_channels, in_size,
out_size, activation, width)``):

- ``dense``: upsampling conv decoder to (B, out, H, W); one ×2 stage per octave between
  the grid and the image (4 stages for 4×4 → 64×64): nearest upsampling + 3×3 conv with
  widths halving from ``width`` down to 8, except the last octave: a 2×2 stride-2
  transposed conv to the output channels. Then the output activation (sigmoid for [0, 1]
  labels, tanh for normals, none for curvature). No convolution runs at full resolution.
- ``segment_dense``: the same network emitting per-pixel class logits (no activation).
- ``embedding``: the same network emitting a per-pixel embedding (no activation).
- ``vector``: 3×3 conv, adaptive pooling to a 2×2 grid (keeps coarse layout, which the
  room-layout and pose numbers need), MLP to ``out`` numbers (B, out).
- ``classify``: the same shape of network emitting class logits (B, out).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taskonomy.errors import input_error, one_of
from taskonomy.registry import Registry

ACTIVATIONS = ("none", "sigmoid", "tanh")

DecoderFactory = Callable[..., nn.Module]
DECODERS: Registry[DecoderFactory] = Registry("decoder")


def _activation(name: str) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise input_error("output activation", name, one_of(ACTIVATIONS))


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, c), c)  # 8 groups, or fewer that divide c


def _start_at(layer: nn.Module, bias: Tensor) -> None:
    # Zero weights + a bias = a constant output: a fresh network starts at the task's guess
    # instead of a random map far from it, which small transfers were slow to unlearn.
    assert isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    out_bias = layer.bias
    if out_bias is None or bias.shape != out_bias.shape:
        want = None if out_bias is None else tuple(out_bias.shape)
        raise input_error("output bias shape", tuple(bias.shape), f"{want}")
    with torch.no_grad():
        layer.weight.zero_()
        out_bias.copy_(bias)


class DenseDecoder(nn.Module):
    """Upsampling decoder (B, C, h, w) → (B, out_channels, H, W)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_size: tuple[int, int],
        out_size: tuple[int, int],
        activation: str = "none",
        width: int = 32,
    ) -> None:
        super().__init__()
        self.out_size = out_size
        ratio = max(out_size[0] / in_size[0], out_size[1] / in_size[1], 1.0)
        n_up = round(math.log2(ratio))
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, 1, 1),
            _norm(width),
            nn.ReLU(inplace=True),
        ]
        c = width
        # The last octave is a 2×2 stride-2 transposed conv (as U-Net's up-convolutions): each
        # half-resolution feature emits its 2×2 output pixels. A 3×3 conv at full resolution
        # plus a 1×1 head used to be ~70 % of a transfer's step on a CPU, and a sub-pixel conv
        # (PixelShuffle) is slower still because of the shuffle (benchmarks/bench_transfer.py).
        for _ in range(n_up - 1):
            nxt = max(8, c // 2)
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c, nxt, 3, 1, 1),
                _norm(nxt),
                nn.ReLU(inplace=True),
            ]
            c = nxt
        self.body = nn.Sequential(*layers)
        self.head: nn.Module = (
            nn.ConvTranspose2d(c, out_channels, 2, 2)
            if n_up >= 1
            else nn.Conv2d(c, out_channels, 1)
        )
        # A learned per-pixel offset (out, H, W): the label's spatial prior (floors below,
        # ceilings above) costs the network nothing, so what it learns is image-specific.
        self.prior = nn.Parameter(torch.zeros(out_channels, *out_size))
        self.act = _activation(activation)

    def init_output(self, bias: Tensor) -> None:
        """Start by predicting ``bias`` (pre-activation; (out,) or a map (out, H, W))."""
        _start_at(self.head, torch.zeros(self.prior.shape[0]))
        with torch.no_grad():
            self.prior.copy_(bias.reshape(-1, *([1, 1] if bias.ndim == 1 else bias.shape[1:])))

    def forward(self, x: Tensor) -> Tensor:
        return self.finish(self.head(self.body(x)), self.prior)  # (B, out, H, W)

    def finish(self, y: Tensor, prior: Tensor) -> Tensor:
        """Head output (B, c, h·2^n, w·2^n) → prediction (B, c, H, W): resize, + prior, act.

        Also used by stacked transfers, whose ``c`` and ``prior`` span M models.
        """
        if tuple(y.shape[-2:]) != self.out_size:
            # Non-power-of-two ratios: finish with an exact resize.
            y = F.interpolate(y, size=self.out_size, mode="bilinear", align_corners=False)
        return self.act(y + prior)


class PooledDecoder(nn.Module):
    """3×3 conv, adaptive average pool to 2×2, two-layer MLP → (B, out_channels)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_size: tuple[int, int] = (1, 1),
        out_size: tuple[int, int] = (1, 1),
        activation: str = "none",
        width: int = 32,
    ) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1), _norm(width), nn.ReLU(inplace=True)
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.mlp = nn.Sequential(
            nn.Linear(4 * width, 2 * width),
            nn.ReLU(inplace=True),
            nn.Linear(2 * width, out_channels),
        )
        self.act = _activation(activation)

    def init_output(self, bias: Tensor) -> None:
        """Start by predicting ``bias`` (out_channels,) (pre-activation) for every input."""
        _start_at(self.mlp[-1], bias)

    def forward(self, x: Tensor) -> Tensor:
        y = self.pool(self.conv(x)).flatten(1)  # (B, 4·width)
        return self.act(self.mlp(y))  # (B, out)


def _dense_logits(
    in_channels: int,
    out_channels: int,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    activation: str = "none",
    width: int = 32,
) -> DenseDecoder:
    # Logits / embeddings are unbounded: an activation would be a declaration error.
    if activation != "none":
        raise input_error("activation of a logit/embedding decoder", activation, "'none'")
    return DenseDecoder(in_channels, out_channels, in_size, out_size, "none", width)


DECODERS.register("dense", DenseDecoder)
DECODERS.register("segment_dense", _dense_logits)
DECODERS.register("embedding", _dense_logits)
DECODERS.register("vector", PooledDecoder)
DECODERS.register("classify", PooledDecoder)


def build_decoder(
    kind: str,
    in_channels: int,
    out_channels: int,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    activation: str = "none",
    width: int = 32,
) -> nn.Module:
    """Build a fresh decoder of ``kind`` (unknown kinds list the valid ones)."""
    factory = DECODERS.get(kind)
    return factory(in_channels, out_channels, in_size, out_size, activation, width)


def is_dense(kind: str) -> bool:
    """Whether a decoder kind outputs a per-pixel map (B, out, H, W)."""
    return DECODERS.canonical(kind) in ("dense", "segment_dense", "embedding")


__all__ = [
    "DECODERS",
    "DenseDecoder",
    "PooledDecoder",
    "build_decoder",
    "is_dense",
]

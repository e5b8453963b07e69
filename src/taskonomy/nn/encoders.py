"""Encoders: image (B, 3, H, W) → representation (B, C_rep, H/s, W/s), s the output stride.

Every encoder of the shared family has output stride 16 by default and ends in a 1×1
convolution to a small bottleneck (8 channels by default), as the paper's 16×16×8
representation at 256². ``small_resnet`` and ``pixels`` also take output stride 8 (their
last stride-2 layer keeps stride 1): at 32² a stride of 16 leaves a 2×2 grid, too coarse
for dense tasks to learn from (docs/representation.md).

Kinds (``ENCODERS`` registry, ``build_encoder(name, ...)``):

- ``small_resnet``: CPU-sized ResNet (stem + 3 residual stages, GroupNorm). At 64² with
  the default width 16: 64² → 4×4×8, 78,200 parameters, 3.53 M multiply-adds per image
  (:func:`count_macs`; ×16 at 256²).
- ``resnet50``: ResNet-50 trunk (bottleneck blocks [3, 4, 6, 3], BatchNorm) written with
  ``torch.nn`` (no torchvision); the last stage keeps stride 1 so 256² gives 16×16, then
  a 1×1 conv to the bottleneck: 256² → 16×16×8, 23.5 M parameters, 8.11 G multiply-adds
  per image (more than the usual 4.1 G at 224² because stage 4 runs on the 16×16 grid).
- ``pixels``: the small-data scratch network (the Gain baseline): a plain stack of four
  stride-2 convolutions (16,920 parameters, 1.48 M multiply-adds at 64²), trained from
  pixels on the small split together with the readout.

The ``random`` source is not a kind of its own: it is the family encoder left at its
seeded initialization and frozen (:func:`source_encoder`).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from taskonomy.errors import input_error
from taskonomy.registry import Registry

OUTPUT_STRIDE = 16  # the default, as the paper's 16×16 grid at 256²
OUTPUT_STRIDES = (8, 16)

EncoderFactory = Callable[..., nn.Module]
ENCODERS: Registry[EncoderFactory] = Registry("encoder")


def _gn(channels: int) -> nn.GroupNorm:
    # GroupNorm keeps each image's output independent of its batch mates (small CPU batches,
    # per-image losses compared across images), unlike BatchNorm in training mode.
    return nn.GroupNorm(math.gcd(8, channels), channels)  # 8 groups, or fewer that divide


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual shortcut (projected when shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = _gn(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = _gn(c_out)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _gn(c_out))

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return torch.relu(y + self.short(x))


class SmallResNet(nn.Module):
    """Stem (stride 2) + three stages of one :class:`BasicBlock` each (stride 2): stride 16
    (``output_stride=8``: the last stage keeps stride 1)."""

    def __init__(
        self,
        in_channels: int = 3,
        bottleneck_channels: int = 8,
        width: int = 16,
        output_stride: int = OUTPUT_STRIDE,
    ) -> None:
        super().__init__()
        _check_stride(output_stride)
        w = width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, 2, 1, bias=False), _gn(w), nn.ReLU(inplace=True)
        )
        last = 2 if output_stride == 16 else 1
        self.stages = nn.Sequential(
            BasicBlock(w, w, 2), BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 4 * w, last)
        )
        self.bottleneck = nn.Conv2d(4 * w, bottleneck_channels, 1)
        self.out_channels = bottleneck_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneck(self.stages(self.stem(x)))  # (B, C_rep, H/16, W/16)


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck block: 1×1 reduce, 3×3 (carries the stride), 1×1 expand ×4."""

    expansion = 4

    def __init__(self, c_in: int, mid: int, stride: int) -> None:
        super().__init__()
        c_out = mid * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.short: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNet50(nn.Module):
    """ResNet-50 trunk with output stride 16 (last stage stride 1) + 1×1 bottleneck conv."""

    def __init__(self, in_channels: int = 3, bottleneck_channels: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers: list[nn.Module] = []
        c_in = 64
        # (mid width, blocks, stride); the paper's 16×16 grid at 256² needs stride 1 in stage 4.
        for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 1)):
            for i in range(blocks):
                layers.append(Bottleneck(c_in, mid, stride if i == 0 else 1))
                c_in = mid * Bottleneck.expansion
        self.stages = nn.Sequential(*layers)
        self.bottleneck = nn.Conv2d(c_in, bottleneck_channels, 1)
        self.out_channels = bottleneck_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneck(self.stages(self.stem(x)))  # (B, C_rep, H/16, W/16)


class PixelsNet(nn.Module):
    """Plain conv stack (4 × stride-2 conv + ReLU) for the small-data scratch baseline
    (``output_stride=8``: the last conv keeps stride 1)."""

    def __init__(
        self,
        in_channels: int = 3,
        bottleneck_channels: int = 8,
        width: int = 16,
        output_stride: int = OUTPUT_STRIDE,
    ) -> None:
        super().__init__()
        _check_stride(output_stride)
        chans = [in_channels, width, width, 2 * width, 2 * width]
        strides = [2, 2, 2, 2 if output_stride == 16 else 1]
        layers: list[nn.Module] = []
        for (a, b), stride in zip(itertools.pairwise(chans), strides, strict=True):
            layers += [nn.Conv2d(a, b, 3, stride, 1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.bottleneck = nn.Conv2d(chans[-1], bottleneck_channels, 1)
        self.out_channels = bottleneck_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneck(self.body(x))  # (B, C_rep, H/16, W/16)


def _check_stride(output_stride: int) -> None:
    if output_stride not in OUTPUT_STRIDES:
        raise input_error("encoder output stride", output_stride, "8 or 16")


ENCODERS.register("small_resnet", SmallResNet)
ENCODERS.register("resnet50", ResNet50)
ENCODERS.register("pixels", PixelsNet)


class MultiViewEncoder(nn.Module):
    """One shared-weight encoder applied to each view; representations concatenated.

    Input (B, k, C, H, W) → output (B, k·C_rep, h, w), view-major along channels.
    """

    def __init__(self, encoder: nn.Module, views: int) -> None:
        super().__init__()
        if views < 1:
            raise input_error("views", views, "an integer >= 1")
        self.encoder = encoder
        self.views = views
        self.out_channels = int(getattr(encoder, "out_channels", 0)) * views

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[1] != self.views:
            raise input_error(
                "multi-view input shape",
                tuple(x.shape),
                f"(B, {self.views}, C, H, W)",
                "Stack the views of one sample along dimension 1.",
            )
        b, k = x.shape[:2]
        rep = self.encoder(x.flatten(0, 1))  # (B·k, C_rep, h, w)
        return rep.reshape(b, k * rep.shape[1], *rep.shape[2:])  # (B, k·C_rep, h, w)


def check_image_size(image_size: int, output_stride: int = OUTPUT_STRIDE) -> None:
    """Refuse sizes the family cannot map to a whole grid at ``output_stride``."""
    _check_stride(output_stride)
    if image_size < output_stride or image_size % output_stride:
        raise input_error(
            "image size",
            image_size,
            f"a positive multiple of {output_stride}",
            f"Encoders have output stride {output_stride}; use e.g. 32, 64, 128 or 256.",
        )


def build_encoder(
    name: str,
    in_channels: int = 3,
    image_size: int = 64,
    bottleneck_channels: int = 8,
    width: int = 16,
    output_stride: int = OUTPUT_STRIDE,
) -> nn.Module:
    """Build an encoder (B, in_channels, S, S) → (B, bottleneck_channels, S/s, S/s), s the
    ``output_stride`` (16 or 8; ResNet-50: 16 only).

    ``width`` sets the base width of ``small_resnet`` and ``pixels`` (ResNet-50 is fixed).
    Weights come from torch's global RNG: seed with ``torch.manual_seed`` first.
    """
    factory = ENCODERS.get(name)
    check_image_size(image_size, output_stride)
    if name == "resnet50":
        if output_stride != OUTPUT_STRIDE:
            raise input_error("resnet50 output stride", output_stride, f"{OUTPUT_STRIDE}")
        return factory(in_channels=in_channels, bottleneck_channels=bottleneck_channels)
    return factory(in_channels=in_channels, bottleneck_channels=bottleneck_channels,
                   width=width, output_stride=output_stride)  # fmt: skip


def representation_shape(
    image_size: int,
    bottleneck_channels: int = 8,
    views: int = 1,
    output_stride: int = OUTPUT_STRIDE,
) -> tuple[int, int, int]:
    """(C_rep, h, w) an encoder of the family produces at ``image_size``² (no forward pass)."""
    check_image_size(image_size, output_stride)
    side = image_size // output_stride
    return (views * bottleneck_channels, side, side)


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients (frozen source encoders, the ``random`` baseline)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def source_encoder(
    source: str,
    family: str = "small_resnet",
    views: int = 1,
    image_size: int = 64,
    bottleneck_channels: int = 8,
    width: int = 16,
    output_stride: int = OUTPUT_STRIDE,
) -> nn.Module:
    """The encoder a source task uses: ``random`` → the family encoder, frozen at init;
    ``pixels`` → :class:`PixelsNet`; any other task → the family encoder (to be trained).
    Multi-view sources get a :class:`MultiViewEncoder` over ``views`` views.
    """
    kind = "pixels" if source == "pixels" else family
    enc = build_encoder(kind, 3, image_size, bottleneck_channels, width, output_stride)
    if views > 1:
        enc = MultiViewEncoder(enc, views)
    if source == "random":
        freeze(enc)
    return enc


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of Conv2d, ConvTranspose2d and Linear layers for one forward pass.

    Runs a copy on the meta device (shapes only), so it is cheap even for ResNet-50 at 256².
    """
    total = 0

    def hook(mod: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total += out.numel() * k
        elif isinstance(mod, nn.ConvTranspose2d):  # each input pixel feeds k² outputs
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.out_channels // mod.groups)
            total += _inp[0].numel() * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    meta = copy.deepcopy(module).to("meta").eval()  # eval: BatchNorm stats on meta fail
    for m in meta.modules():
        m.register_forward_hook(hook)
    with torch.no_grad():
        meta(torch.empty(input_shape, device="meta"))
    return total

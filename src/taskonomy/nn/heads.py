"""Task heads and task models: the torch side of each task's declarative ``HeadSpec``.

``taskonomy.tasks`` declares heads by kind name only (no torch import); this module
resolves those names in the registries of ``taskonomy.nn``:

- ``ENCODERS`` (``taskonomy.nn.encoders``): small_resnet, resnet50, pixels
- ``DECODERS`` (``taskonomy.nn.decoders``): dense, segment_dense, embedding, vector, classify
- ``LOSSES`` (``taskonomy.nn.losses``): l1, l2, masked_l1, masked_l2, ce, rebalanced_ce,
  soft_ce, pose_l2, pairwise_metric
- ``METRICS`` (``taskonomy.nn.metrics``): mae, rmse, angular_error, accuracy, pose_l2,
  pair_accuracy

Size symbols (``sizes``): ``"H"``/``"W"`` come from the image size; class counts
``n_object_classes``, ``n_scene_classes``, ``n_semantic_classes`` come from the bank's
metadata, and ``n_jigsaw_permutations = len(meta["jigsaw_permutations"])``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from taskonomy.errors import input_error
from taskonomy.nn.decoders import DECODERS, build_decoder
from taskonomy.nn.encoders import (
    ENCODERS,
    OUTPUT_STRIDE,
    MultiViewEncoder,
    build_encoder,
    representation_shape,
)
from taskonomy.nn.losses import LOSSES, PerImageLoss, build_loss
from taskonomy.nn.metrics import METRICS, Metric
from taskonomy.tasks import get_task
from taskonomy.tasks.spec import MASK_KEY, HeadSpec, LabelSpec, TaskSpec

__all__ = [
    "DECODERS",
    "ENCODERS",
    "LOSSES",
    "MASK_KEY",
    "METRICS",
    "TaskHead",
    "TaskModel",
    "resolve_sizes",
]


def _spec(task: TaskSpec | str) -> TaskSpec:
    return task if isinstance(task, TaskSpec) else get_task(task)


def _head_of(spec: TaskSpec) -> tuple[HeadSpec, LabelSpec]:
    if spec.head is None or spec.label is None:
        raise input_error(
            "task with a network head",
            spec.name,
            "a task with a label and a HeadSpec",
            "'random' has no head: it is an untrained encoder (encoders.source_encoder).",
        )
    return spec.head, spec.label


def resolve_sizes(image_size: int, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """Symbol sizes with ``H`` and ``W`` set from ``image_size``."""
    out = dict(sizes or {})
    out["H"] = out["W"] = image_size
    return out


class TaskHead(nn.Module):
    """A task's fresh decoder + loss + metric on a representation (B, C, h, w).

    ``forward`` returns the prediction in the label's layout: dense maps (B, out, H, W),
    vectors reshaped to (B, *label_shape) (egomotion: (B, 3, 6)), class logits (B, K).
    """

    def __init__(
        self,
        task: TaskSpec | str,
        in_channels: int,
        in_size: tuple[int, int],
        image_size: int,
        sizes: Mapping[str, int] | None = None,
        width: int = 32,
        loss_kwargs: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.spec = _spec(task)
        head, label = _head_of(self.spec)
        self.kind = DECODERS.canonical(head.decoder)
        self.sizes = resolve_sizes(image_size, sizes)
        try:
            out_channels = head.resolve_channels(self.sizes)
            self.label_shape = label.resolve(self.sizes)
        except KeyError as err:
            raise input_error(
                f"sizes for task {self.spec.name!r}",
                sorted(self.sizes),
                "every size symbol of its label and head",
                str(err),
            ) from err
        if self.kind == "vector" and math.prod(self.label_shape) != out_channels:
            raise input_error(
                f"vector head channels of {self.spec.name!r}",
                out_channels,
                f"prod of the label shape {self.label_shape}",
            )
        self.decoder = build_decoder(
            head.decoder, in_channels, out_channels, in_size, (image_size, image_size),
            head.activation, width,
        )  # fmt: skip
        self.loss_fn: PerImageLoss = build_loss(head.loss, **dict(loss_kwargs or {}))
        self.metric_fn: Metric = METRICS.get(head.metric)

    def start_from_guess(self, guess: Tensor) -> None:
        """Make the fresh decoder's first prediction the statistically informed ``guess``.

        ``guess`` is in the output space (the mean label after the activation, or class
        logits), shaped like one prediction. The decoder's last layer gets zero weights and
        the matching bias (dense decoders: their per-pixel prior map).
        Embedding heads are left alone: a constant embedding has no gradient to learn from.
        """
        head, _ = _head_of(self.spec)
        if self.kind == "embedding":
            return
        g = guess.float()
        g = g if self.kind in ("dense", "segment_dense") else g.flatten()
        if head.activation == "sigmoid":
            g = torch.logit(g.clamp(1e-4, 1 - 1e-4))
        elif head.activation == "tanh":
            g = torch.atanh(g.clamp(-1 + 1e-4, 1 - 1e-4))
        self.decoder.init_output(g)  # type: ignore[operator]

    def forward(self, rep: Tensor) -> Tensor:
        out = self.decoder(rep)
        if self.kind == "vector":
            out = out.reshape(out.shape[0], *self.label_shape)  # (B, *label_shape)
        return out

    def _target(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        name = self.spec.name
        if name not in batch:
            raise input_error(
                "batch keys", sorted(batch), f"a label under {name!r}", "Load the task's label."
            )
        mask = None
        if self.spec.label is not None and self.spec.label.masked:
            if MASK_KEY not in batch:
                raise input_error(
                    "batch keys", sorted(batch), f"{MASK_KEY!r} for the masked task {name!r}"
                )
            mask = batch[MASK_KEY]
        return batch[name], mask

    def loss(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image loss (B,) of ``pred`` against the batch's label (and valid mask)."""
        target, mask = self._target(batch)
        return self.loss_fn(pred, target, mask)

    def metric(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image metric (B,) (direction: ``self.metric_fn.higher_is_better``)."""
        target, mask = self._target(batch)
        with torch.no_grad():
            return self.metric_fn(pred, target, mask)


class TaskModel(nn.Module):
    """Encoder of the shared family + the task's fresh decoder (a task network).

    ``forward(batch)`` reads ``batch[spec.input]``: (B, 3, H, W), or (B, k, 3, H, W) for a
    k-view task whose shared-weight towers' representations are concatenated.
    """

    def __init__(
        self,
        task: TaskSpec | str,
        encoder: str = "small_resnet",
        image_size: int = 64,
        sizes: Mapping[str, int] | None = None,
        bottleneck_channels: int = 8,
        encoder_width: int = 16,
        decoder_width: int = 32,
        loss_kwargs: Mapping[str, object] | None = None,
        output_stride: int = OUTPUT_STRIDE,
    ) -> None:
        super().__init__()
        self.spec = _spec(task)
        _head_of(self.spec)  # fail early for head-less tasks
        enc = build_encoder(
            encoder, 3, image_size, bottleneck_channels, encoder_width, output_stride
        )
        self.encoder: nn.Module = (
            MultiViewEncoder(enc, self.spec.views) if self.spec.views > 1 else enc
        )
        c, h, w = representation_shape(
            image_size, bottleneck_channels, self.spec.views, output_stride
        )
        self.head = TaskHead(self.spec, c, (h, w), image_size, sizes, decoder_width, loss_kwargs)

    def encode(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The representation (B, views·C_rep, h, w) of the task's input image(s)."""
        key = self.spec.input
        if key not in batch:
            raise input_error(
                "batch keys", sorted(batch), f"the input {key!r} of task {self.spec.name!r}"
            )
        return self.encoder(batch[key])

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.encode(batch))

    def loss(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image loss (B,)."""
        return self.head.loss(pred, batch)

    def metric(self, pred: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-image metric (B,)."""
        return self.head.metric(pred, batch)


def random_batch(
    task: TaskSpec | str,
    batch_size: int,
    image_size: int,
    sizes: Mapping[str, int] | None = None,
    generator: torch.Generator | None = None,
    n_segments: int = 4,
) -> dict[str, Tensor]:
    """A random batch in the bank's layout for one task (tests, smoke runs).

    Input image(s) uniform in [0, 1]; labels drawn inside the LabelSpec's range (class ids
    below the head's class count, ``n_segments`` segment ids for embedding heads, a
    softmax distribution for soft labels); a valid mask with ~80 % valid pixels.
    """
    spec = _spec(task)
    head, label = _head_of(spec)
    sz = resolve_sizes(image_size, sizes)
    g = generator
    shape = label.resolve(sz)
    b = batch_size
    img: tuple[int, ...] = (3, image_size, image_size)
    if spec.views > 1:
        img = (spec.views, *img)
    out = {spec.input: torch.rand((b, *img), generator=g)}
    if label.dtype == "int64":
        if head.decoder == "embedding":
            n = n_segments
        elif label.high is not None:
            n = int(label.high) + 1
        else:
            n = head.resolve_channels(sz)
        out[spec.name] = torch.randint(0, n, (b, *shape), generator=g)
    elif head.loss == "soft_ce":
        out[spec.name] = torch.randn((b, *shape), generator=g).softmax(-1)
    elif label.low is not None and label.high is not None:
        u = torch.rand((b, *shape), generator=g)
        out[spec.name] = label.low + (label.high - label.low) * u
    else:
        out[spec.name] = torch.randn((b, *shape), generator=g)
    if label.masked:
        out[MASK_KEY] = torch.rand((b, 1, image_size, image_size), generator=g) < 0.8
    return out

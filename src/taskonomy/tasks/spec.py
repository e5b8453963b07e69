"""What a task *is*: its names, views, label layout and family (see ``docs/tasks.md``).

Specs are plain data and import no deep-learning code, so the planning path
(`taskonomy solve`) stays fast. Network parts are declared here by *kind name* only
(:class:`HeadSpec`); the torch implementations live in ``taskonomy.nn`` registries
keyed by those names (``taskonomy.nn.heads``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Family = Literal["2D", "3D", "geometric", "semantic", "baseline"]
# Display order and colour of each family: the one owner for every figure, table and page.
FAMILY_COLORS: dict[str, str] = {  # keys: every Family
    "2D": "#1b7837",
    "3D": "#2166ac",
    "geometric": "#b2182b",
    "semantic": "#762a83",
    "baseline": "#4d4d4d",
}
# The validity mask (1×H×W bool) that accompanies masked labels: bank key, batch key and
# Taskonomy-layout folder all use this name.
MASK_KEY = "mask_valid"
Role = Literal["task", "source_only", "baseline", "published_only"]
Dim = int | str  # an int, or a symbol resolved per data set: "H", "W", or a class-count name


@dataclass(frozen=True)
class LabelSpec:
    """Layout of one label array as stored per sample (channels first, no batch dim).

    ``shape`` may hold symbols: ``"H"``/``"W"`` (image size) or a class-count name such as
    ``"n_object_classes"`` resolved by the data set's manifest.
    """

    shape: tuple[Dim, ...]
    dtype: Literal["float32", "int64", "bool"]
    low: float | None = None  # inclusive bounds of valid values; None = unbounded
    high: float | None = None
    masked: bool = False  # a validity mask (MASK_KEY, 1×H×W bool) accompanies the label

    def resolve(self, sizes: dict[str, int]) -> tuple[int, ...]:
        """Concrete shape given symbol sizes, e.g. ``{"H": 64, "W": 64, ...}``."""
        out = []
        for d in self.shape:
            if isinstance(d, int):
                out.append(d)
            elif d in sizes:
                out.append(int(sizes[d]))
            else:
                raise KeyError(f"label dimension {d!r} needs a size; known: {sorted(sizes)}")
        return tuple(out)


# How a label is encoded in the Taskonomy folder layout (see ``data/taskonomy_layout.py``).
# "rgb_label": the label *is* the clean rgb (rebuilt from ``rgb/`` on import, never written
# twice); "tuples": one JSON per building of multi-view tuples; "point_info": a field of the
# per-view ``point_info`` JSON.
LayoutCodec = Literal[
    "rgb8",
    "depth16",
    "mask8",
    "normal8",
    "gray8",
    "curv8",
    "unit16",
    "ids",
    "npy_vec",
    "npy_onehot",
    "npy_int",
    "point_info",
    "tuples",
    "rgb_label",
]
_EXT = {
    "npy_vec": "npy",
    "npy_onehot": "npy",
    "npy_int": "npy",
    "point_info": "json",
    "tuples": "json",
}


@dataclass(frozen=True)
class LayoutSpec:
    """Where and how a label lives in the Taskonomy layout (one file per view, or tuples).

    ``folder``/``domain`` default to the task name (``domain`` is the ``_domain_<domain>``
    part of file names); ``released``: part of the released data set (False: this
    package's addition, same naming).
    """

    codec: LayoutCodec
    folder: str | None = None
    domain: str | None = None
    released: bool = True

    @property
    def ext(self) -> str:
        """File extension of the codec: png, npy or json."""
        return _EXT.get(self.codec, "png")


Activation = Literal["none", "sigmoid", "tanh"]


@dataclass(frozen=True)
class HeadSpec:
    """Declarative network head of a task: decoder, loss and metric kinds (names only).

    The kinds are looked up in ``taskonomy.nn.heads`` (``DECODERS``, ``LOSSES``,
    ``METRICS``). ``channels`` is what the decoder outputs: image channels for dense
    heads, numbers for vector heads, classes for classifiers, embedding size for
    embedding heads. Like label dimensions it may be a symbol such as
    ``"n_scene_classes"`` resolved per data set.
    """

    decoder: str  # "dense", "vector", "classify", "segment_dense", "embedding"
    channels: Dim
    loss: str  # e.g. "l1", "masked_l1", "ce", "soft_ce", "pose_l2", "pairwise_metric"
    metric: str  # e.g. "mae", "angular_error", "accuracy"
    activation: Activation = "none"  # output range: sigmoid for [0, 1], tanh for [-1, 1]

    def resolve_channels(self, sizes: dict[str, int]) -> int:
        """Concrete output channels given symbol sizes (see :meth:`LabelSpec.resolve`)."""
        if isinstance(self.channels, int):
            return self.channels
        if self.channels in sizes:
            return int(sizes[self.channels])
        raise KeyError(f"head channels {self.channels!r} need a size; known: {sorted(sizes)}")


@dataclass(frozen=True)
class TaskSpec:
    """One task of the dictionary."""

    name: str  # canonical (Taskonomy/Omnidata folder) name
    name_2018: str  # name in the published 2018 result files
    family: Family
    order: int  # position in the task dictionary (docs/tasks.md), for display
    views: int  # images one sample shows (multi-view tasks: 2 or 3)
    output: str  # human description of the output
    loss: str  # human description of the per-image loss
    role: Role = "task"
    label: LabelSpec | None = None  # None: no label (random encoder)
    input: str = "rgb"  # which image the network sees: rgb, rgb_noised, rgb_gray, ...
    head: HeadSpec | None = None  # decoder/loss/metric kinds; None: no task network head
    layout: LayoutSpec | None = None  # Taskonomy-layout encoding; required with a label
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Every exporter/importer is driven by these fields: a labelled task without a
        # layout (or a multi-view task stored per view) would silently go missing.
        if self.label is not None and self.layout is None:
            raise ValueError(f"task {self.name!r} has a label but no LayoutSpec")
        if self.layout is not None and (self.layout.codec == "tuples") != self.multiview:
            raise ValueError(f"task {self.name!r}: multi-view tasks (only) use codec 'tuples'")

    @property
    def multiview(self) -> bool:
        """One sample shows several views (labels live on tuples of views)."""
        return self.views > 1

    @property
    def masked(self) -> bool:
        """The label comes with a validity mask (:data:`MASK_KEY`)."""
        return self.label is not None and self.label.masked

    @property
    def rgb_label(self) -> bool:
        """The label is the clean rgb image itself (autoencoding-like tasks)."""
        return self.layout is not None and self.layout.codec == "rgb_label"

    @property
    def is_source(self) -> bool:
        """Can have a task network (appear as a transfer source)."""
        return self.role in ("task", "source_only", "baseline", "published_only")

    @property
    def is_target(self) -> bool:
        """Has a label a transfer can be trained to predict."""
        return self.role in ("task", "published_only")

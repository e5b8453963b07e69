"""Outside encoders: frozen networks from outside this project used as transfer sources.

A run config's ``sources`` entry names an architecture, a local weights file, the submodule
whose output is the representation, and the input normalization
(:class:`taskonomy.pipeline.config.OutsideSourceConfig`). Architectures:

* ``python:<module>:<factory>``: any importable callable returning an ``nn.Module``;
* ``timm:<name>``: ``timm.create_model(name, pretrained=False)`` (the ``outside`` extra);
* ``torchvision:<name>``: ``torchvision.models.get_model(name, weights=None)``.

Nothing is downloaded: the model is built without weights, then the user's file is loaded
(``.safetensors``, or ``.pt`` read with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers).

The representation is the chosen layer's output (a forward hook; the forward pass stops
there): maps (N, C, h, w) as they are, vectors (N, D) as (N, D, 1, 1), tokens (N, L, D) as a
square grid (a leading class token dropped when L − 1 is square). Maps are then resized to
the family encoder's bottleneck grid, so the transfer readouts take them like any source's.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taskonomy.errors import TaskonomyError

SCHEMES = ("python", "timm", "torchvision")
WEIGHT_SUFFIXES = (".safetensors", ".pt")
_SHOWN = 5  # keys / layer names an error lists


def check_architecture(spec: str) -> tuple[str, str]:
    """``(scheme, rest)`` of an architecture spec, or a one-line error."""
    scheme, sep, rest = spec.partition(":")
    ok = bool(sep) and scheme in SCHEMES and bool(rest)
    if ok and scheme == "python":
        module, sep2, factory = rest.rpartition(":")
        ok = bool(sep2 and module and factory)
    if not ok:
        raise TaskonomyError(
            f"outside source architecture: got {spec!r}; expected 'timm:<name>', "
            "'torchvision:<name>' or 'python:<module>:<factory>' (e.g. 'timm:resnet18')."
        )
    return scheme, rest


def check_weights_path(path: str | Path) -> Path:
    """The weights file, checked to exist with a supported suffix (one-line errors)."""
    p = Path(path)
    if p.suffix not in WEIGHT_SUFFIXES:
        raise TaskonomyError(
            f"outside source weights: got {str(p)!r}; expected a .safetensors or .pt file. "
            "Convert the checkpoint to one of them."
        )
    if not p.is_file():
        raise TaskonomyError(
            f"outside source weights: {str(p)!r} does not exist (or is not a file); expected "
            "an existing .safetensors or .pt file. Fix the path (relative paths: from the "
            "config file's folder)."
        )
    return p


def file_digest(path: str | Path) -> str:
    """BLAKE2b (128-bit) of a file's bytes: the weights' identity in the encode job's key."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_architecture(spec: str) -> nn.Module:
    """A freshly built (unweighted) model of ``spec``; never downloads anything."""
    scheme, rest = check_architecture(spec)
    if scheme == "python":
        module_name, _, factory_name = rest.rpartition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise TaskonomyError(
                f"outside source architecture {spec!r}: cannot import module "
                f"{module_name!r} ({exc}); expected an importable module. Put it on PYTHONPATH."
            ) from None
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            raise TaskonomyError(
                f"outside source architecture {spec!r}: module {module_name!r} has no callable "
                f"{factory_name!r}; expected a function returning an nn.Module."
            )
        try:
            model = factory()
        except Exception as exc:  # the user's code: any failure is a bad declaration
            raise TaskonomyError(
                f"outside source architecture {spec!r}: the factory raised "
                f"{type(exc).__name__}: {_short(exc)}; expected it to build the model."
            ) from None
    elif scheme == "timm":
        timm = _optional("timm", spec)
        try:
            model = timm.create_model(rest, pretrained=False)
        except RuntimeError as exc:  # timm's "Unknown model"
            raise TaskonomyError(f"outside source architecture {spec!r}: {exc}") from None
    else:
        models = _optional("torchvision.models", spec)
        try:
            model = models.get_model(rest, weights=None)
        except ValueError as exc:  # unknown name
            raise TaskonomyError(f"outside source architecture {spec!r}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise TaskonomyError(
            f"outside source architecture {spec!r}: the factory returned "
            f"{type(model).__name__}; expected a torch.nn.Module."
        )
    return model


def _short(exc: BaseException, limit: int = 160) -> str:
    return " ".join(str(exc).split())[:limit]


def _optional(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install (torchvision's C ops)
        raise TaskonomyError(
            f"outside source architecture {spec!r}: cannot import {module.split('.')[0]} "
            f"({type(exc).__name__}: {_short(exc, 120)}); expected it "
            "installed beside this torch. Install it (pip install 'taskonomy[outside]') or "
            "use 'python:<module>:<factory>'."
        ) from None


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """A state dict from ``.safetensors`` or ``.pt`` (tensors only: no arbitrary unpickling).

    A ``.pt`` may hold the state dict itself or wrap it as ``{"state_dict": ...}`` or
    ``{"model": ...}`` (common checkpoint layouts).
    """
    p = check_weights_path(path)
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError) as exc:
            raise TaskonomyError(
                f"outside source weights {str(p)!r}: not a readable safetensors file ({exc}); "
                "expected one written by safetensors. Re-export it."
            ) from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for anything but tensors/containers
        raise TaskonomyError(
            f"outside source weights {str(p)!r}: refused to load ({type(exc).__name__}: "
            f"{_short(exc)}); expected a .pt holding only tensors (a state dict), read with "
            "weights_only=True. Save model.state_dict(), or convert it to .safetensors."
        ) from None
    if isinstance(obj, Mapping) and len(obj) == 1:
        (only,) = obj.keys()
        if only in ("state_dict", "model") and isinstance(obj[only], Mapping):
            obj = obj[only]
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise TaskonomyError(
            f"outside source weights {str(p)!r}: got a {type(obj).__name__} that is not a "
            "mapping of names to tensors; expected a state dict. Save model.state_dict()."
        )
    return dict(obj)


def load_into(model: nn.Module, state: Mapping[str, Tensor], where: str) -> None:
    """Load ``state`` strictly; a mismatch names the first missing/unexpected keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise TaskonomyError(
            f"{where}: the weights do not match the architecture: {len(missing)} missing keys "
            f"{missing[:_SHOWN]}, {len(unexpected)} unexpected keys {unexpected[:_SHOWN]}; "
            "expected the architecture's state dict. Check the architecture and the file."
        )
    shapes = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise TaskonomyError(
            f"{where}: {len(shapes)} weights have another shape than the architecture's "
            f"(file vs model): {'; '.join(shapes[:_SHOWN])}. Check the architecture."
        )
    model.load_state_dict(state, strict=True)


def as_maps(out: Tensor, where: str = "outside encoder") -> Tensor:
    """A layer's output as (N, C, h, w): maps as is, vectors (N, D) → (N, D, 1, 1), tokens
    (N, L, D) → (N, D, s, s) when L (or L − 1: a leading class token) is a square s²."""
    if out.ndim == 4:
        return out
    if out.ndim == 2:
        return out[:, :, None, None]
    if out.ndim == 3:
        n, length, d = out.shape
        for drop in (0, 1):
            side = math.isqrt(length - drop)
            if length - drop > 0 and side * side == length - drop:
                grid = out[:, drop:].transpose(1, 2)  # (N, D, s²)
                return grid.reshape(n, d, side, side)
        raise TaskonomyError(
            f"{where}: the layer outputs {length} tokens, neither a square nor a square plus "
            "a class token; expected a square grid of tokens. Pick another layer."
        )
    raise TaskonomyError(
        f"{where}: the layer outputs a tensor of shape {tuple(out.shape)}; expected (N, C, h, w) "
        "maps, (N, D) vectors or (N, L, D) tokens. Pick another layer."
    )


def to_grid(maps: Tensor, grid: tuple[int, int]) -> Tensor:
    """Resize (N, C, h, w) to the family's bottleneck grid: area-average when shrinking
    (every input cell counts), bilinear when growing (a 1×1 vector becomes a constant map)."""
    if tuple(maps.shape[-2:]) == grid:
        return maps
    if maps.shape[-2] >= grid[0] and maps.shape[-1] >= grid[1]:
        return F.adaptive_avg_pool2d(maps, grid)
    return F.interpolate(maps, size=grid, mode="bilinear", align_corners=False)


class _Reached(Exception):
    """Raised by the hook: the representation is computed, the rest of the model is skipped."""


class OutsideEncoder(nn.Module):
    """A frozen outside model read at ``layer``: normalized RGB in [0, 1] → (N, C, *grid)."""

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        mean: Sequence[float],
        std: Sequence[float],
        grid: tuple[int, int],
        name: str = "outside encoder",
    ) -> None:
        super().__init__()
        modules = dict(model.named_modules())
        if layer not in modules or layer == "":
            names = [n for n in modules if n]
            shown = ", ".join(names[:12]) + (
                f", … ({len(names)} in all)" if len(names) > 12 else ""
            )
            raise TaskonomyError(
                f"{name}: layer {layer!r} is not a submodule of the architecture; expected one "
                f"of its module names, e.g. {shown}."
            )
        self.model = model.eval().requires_grad_(False)
        self.layer, self.grid, self.name = layer, grid, name
        self.register_buffer(
            "mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))
        self._out: Tensor | None = None
        self._armed = False  # the hook acts only inside forward (the model stays usable)
        modules[layer].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, out: Any) -> None:
        if not self._armed:
            return
        if isinstance(out, list | tuple) and out and isinstance(out[0], Tensor):
            out = out[0]
        if not isinstance(out, Tensor):
            raise TaskonomyError(
                f"{self.name}: layer {self.layer!r} outputs a {type(out).__name__}; expected a "
                "tensor. Pick another layer."
            )
        self._out = out
        raise _Reached

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        self._out, self._armed = None, True
        try:
            mean, std = self.get_buffer("mean"), self.get_buffer("std")
            self.model((x - mean) / std)
        except _Reached:
            pass
        finally:
            self._armed = False
        if self._out is None:
            raise TaskonomyError(
                f"{self.name}: layer {self.layer!r} was not run by the model's forward pass; "
                "expected a layer on the path from the image to the output. Pick another."
            )
        out, self._out = self._out, None
        return to_grid(as_maps(out, self.name).float(), self.grid)


def outside_encoder(
    name: str,
    architecture: str,
    weights: str | Path,
    layer: str,
    mean: Sequence[float],
    std: Sequence[float],
    grid: tuple[int, int],
) -> OutsideEncoder:
    """Build ``architecture``, load ``weights`` into it and read it at ``layer``."""
    model = build_architecture(architecture)
    load_into(model, load_weights(weights), f"outside source {name!r} ({weights})")
    return OutsideEncoder(model, layer, mean, std, grid, f"outside source {name!r}")

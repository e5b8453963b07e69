"""Where the recipes compute: device names, mixed precision and data placement.

A device is an *execution* setting: the recipes' numbers on a CPU do not depend on it
(a CPU run is byte-identical to one made before devices existed), and on a GPU they
differ only by floating-point rounding. ``precision: bf16`` (autocast) does change the
numbers, so the pipeline puts it into the jobs' params (and keys) when it is used.

Data placement on a GPU: a split that fits in a fraction of the free device memory is
moved there once (a GPU-resident tensor dataset: a minibatch is then an index on the
device); otherwise it stays in pinned host memory and each minibatch is copied with
``non_blocking=True`` (the copy overlaps the previous step's kernels).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal, TypeVar

import torch
from torch import Tensor, nn

from taskonomy.errors import TaskonomyError, input_error

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
CPU = torch.device("cpu")
DEVICE_HELP = "auto, cpu, cuda or cuda:N"
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
# A split is made GPU-resident when it takes at most this share of the free memory: the
# rest is for the network's activations and the optimizer.
RESIDENT_SHARE = 0.4


def check_device_name(name: str) -> str:
    """``name`` if it is a device name this project accepts (no CUDA check), else a
    one-line error."""
    if not isinstance(name, str) or not _DEVICE_RE.match(name):
        raise input_error("device", name, DEVICE_HELP, "Pass e.g. --device cuda:0.")
    return name


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device of ``name``: ``auto`` is CUDA when present, else the CPU; ``cuda``
    or ``cuda:N`` without that GPU is a clear error (not a silent CPU run)."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else CPU
    if name == "cpu":
        return CPU
    if not torch.cuda.is_available():
        raise TaskonomyError(
            f"device: got {name!r} but this machine has no CUDA device (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); expected "
            f"{DEVICE_HELP}. Use --device cpu (or auto), or install a CUDA build of torch."
        )
    dev = torch.device(name)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise input_error("device", name, f"cuda:0 … cuda:{count - 1} ({count} visible GPUs)",
                          "Pass a visible GPU index (see CUDA_VISIBLE_DEVICES).")  # fmt: skip
    return dev


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise input_error("precision", precision, ", ".join(PRECISIONS))


@contextmanager
def autocast(device: torch.device, precision: str = "fp32") -> Iterator[None]:
    """bf16 autocast on ``device`` when ``precision`` is "bf16"; otherwise nothing (fp32
    code paths stay exactly as they were)."""
    check_precision(precision, device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU when it has none)."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return CPU


def nbytes(data: Mapping[str, Tensor]) -> int:
    return sum(v.element_size() * v.numel() for v in data.values())


def fits_on(device: torch.device, n_bytes: int, share: float = RESIDENT_SHARE) -> bool:
    """Whether ``n_bytes`` fit in ``share`` of ``device``'s free memory (CUDA only)."""
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return n_bytes <= share * free


def place(
    data: Mapping[str, Tensor], device: torch.device, share: float = RESIDENT_SHARE
) -> dict[str, Tensor]:
    """Put a split where minibatches are cheapest to draw from for ``device``.

    CPU: unchanged (no copy). CUDA: on the device when it fits in ``share`` of the free
    memory, else in pinned host memory (minibatches then move with ``non_blocking``).
    """
    if device.type == "cpu":
        return dict(data)
    if fits_on(device, nbytes(data), share):
        return {k: v.to(device, non_blocking=True) for k, v in data.items()}
    return {k: v if v.is_pinned() else v.pin_memory() for k, v in data.items()}


def to_batch_device(batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """A minibatch on ``device`` (host tensors copied asynchronously when pinned)."""
    if device.type == "cpu":
        return dict(batch)
    return {k: v.to(device, non_blocking=v.is_pinned()) for k, v in batch.items()}


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def to_channels_last(model: ModuleT, enabled: bool) -> ModuleT:
    """The model (in place) with NHWC weights (faster convolutions on tensor cores) when
    ``enabled``."""
    if enabled:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)

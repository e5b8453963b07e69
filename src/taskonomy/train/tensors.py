"""Bulk loading of bank splits into in-memory tensors for the training loop (the recipes
of train/ and transfer/ read their samples here).

A single-view task's samples are the split's views; a k-view task's samples are its
tuples whose views lie in the split, with images stacked as (N, k, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

from taskonomy.data.bank import VIEWS_SUFFIX, Bank
from taskonomy.tasks import MASK_KEY, get_task

MASK = MASK_KEY  # the validity mask key (one owner: tasks.spec)


def sample_views(bank: Bank, task: str, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(views, rows): global view ids (N,) or (N, k), and tuple rows for multi-view tasks."""
    spec = get_task(task)
    if spec.views == 1:
        return bank.split_views(split), None
    rows = bank.tuple_rows(task, split)
    views = np.asarray(bank.raw(task + VIEWS_SUFFIX)[rows]).astype(np.int64)  # (N, k)
    return views, rows


def load_images(bank: Bank, key: str, views: np.ndarray) -> Tensor:
    """Images of ``views`` (N,) → (N, 3, H, W) or (N, k) → (N, k, 3, H, W), float32."""
    flat = bank.get(key, views.reshape(-1))  # (N·k, 3, H, W)
    return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)).reshape(
        *views.shape, *flat.shape[1:]
    )


def load_labels(bank: Bank, task: str, split: str) -> dict[str, Tensor]:
    """The task's label (and validity mask when the task is masked) for a split."""
    spec = get_task(task)
    views, rows = sample_views(bank, task, split)
    out: dict[str, Tensor] = {}
    label = bank.get(task, rows if rows is not None else views)
    out[task] = torch.from_numpy(np.ascontiguousarray(label))
    if spec.label is not None and spec.label.masked:
        out[MASK] = torch.from_numpy(np.ascontiguousarray(bank.get(MASK, views)))
    return out


def load_task_split(
    bank: Bank, task: str, split: str, inputs: Iterable[str] = ()
) -> dict[str, Tensor]:
    """Labels plus input images (default: the task's own input key) for one split."""
    spec = get_task(task)
    views, _ = sample_views(bank, task, split)
    data = load_labels(bank, task, split)
    for key in set(inputs) | {spec.input}:
        data[key] = load_images(bank, key, views)
    return data


def sizes_of(bank: Bank) -> dict[str, int]:
    """Size symbols for heads: image size, class counts, jigsaw permutation count."""
    sizes = dict(bank.sizes)
    perms = bank.meta.get("jigsaw_permutations")
    if perms is not None:
        sizes.setdefault("n_jigsaw_permutations", len(perms))
    return sizes


CPU = torch.device("cpu")


def to_device(data: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """The same samples on ``device`` (no copies when they are there already)."""
    return {k: v.to(device) for k, v in data.items()}

"""``MultiTaskDataset``: torch samples for any subset of tasks from a bank split.

A sample is a ``dict[str, torch.Tensor]``:

- ``"rgb"``: float32 in [0, 1], (3, H, W) — or (k, 3, H, W) for a k-view task;
- the network input of each requested task when it is not ``rgb`` (``TaskSpec.input``:
  ``"rgb_noised"``, ``"rgb_gray"``, ``"rgb_masked"``, ``"rgb_jigsaw"``), same layout;
- one label per task with a label, keyed by canonical task name, with the ``LabelSpec``
  shape and dtype (float32 / int64 / bool);
- ``"mask_valid"``: (1, H, W) bool, when a requested task is masked;
- ``"view_index"``: int64 global view index (k-view tasks: (k,) indices).

Sample layout rule: single-view tasks give one sample per view of the split; multi-view
tasks give one sample per tuple. One dataset serves one layout: single-view and multi-view
tasks cannot be mixed, and several multi-view tasks can be combined only when they are
defined on the same tuples (otherwise make one dataset per task).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from taskonomy.data.bank import MASK_KEY, SPLITS, VIEWS_SUFFIX, Bank, open_bank
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.tasks import get_task

Sample = dict[str, torch.Tensor]


class MultiTaskDataset(Dataset[Sample]):
    """Samples of ``tasks`` (canonical or 2018 names) from one split of a bank.

    Parameters
    ----------
    bank: a :class:`~taskonomy.data.bank.Bank` or its directory.
    split: ``"large"``, ``"small"`` or ``"test"`` (or ``"all"`` for every scene).
    tasks: the tasks whose labels (and inputs) each sample carries. ``random`` has no label
        and only adds its input.
    transform: optional function applied to each sample dict.
    """

    def __init__(
        self,
        bank: Bank | str | os.PathLike[str],
        split: str,
        tasks: Sequence[str],
        *,
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        self.bank = open_bank(bank)
        if split not in (*SPLITS, "all"):
            raise input_error("split", split, one_of((*SPLITS, "all")))
        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise input_error("tasks", list(tasks), "at least one task name")
        self.split = split
        self.transform = transform
        specs = [get_task(t) for t in tasks]  # unknown names: the registry's error
        self.tasks = list(dict.fromkeys(s.name for s in specs))
        specs = [get_task(t) for t in self.tasks]
        unlabeled = [s.name for s in specs if s.label is None and s.role == "published_only"]
        if unlabeled:
            raise input_error(
                "tasks", unlabeled, "tasks with a label",
                "These appear only in the published 2018 results; there is no synthetic label.",
            )  # fmt: skip
        have = set(self.bank.keys())
        missing = [s.name for s in specs if s.label is not None and s.name not in have]
        if missing:
            raise input_error(
                f"tasks missing from bank {self.bank.path}",
                missing,
                "tasks the bank has labels for: " + ", ".join(self.bank.tasks()),
            )
        self.label_tasks = [s.name for s in specs if s.label is not None]
        self.input_keys = list(dict.fromkeys(["rgb", *(s.input for s in specs)]))
        for key in self.input_keys:
            if key not in have or self.bank.kind(key) != "view":
                raise input_error(
                    f"network input of tasks {self.tasks} in bank {self.bank.path}",
                    key,
                    "an image the bank stores: "
                    + ", ".join(k for k in self.bank.view_keys() if k.startswith("rgb")),
                )
        self.with_mask = any(s.label is not None and s.label.masked for s in specs)
        if self.with_mask and MASK_KEY not in have:
            raise TaskonomyError(
                f"bank {self.bank.path}: got masked tasks but no {MASK_KEY!r} array; "
                "expected one. Regenerate the bank."
            )
        multi = [s.name for s in specs if s.views > 1]
        single = [s.name for s in specs if s.views == 1]
        if multi and single:
            raise input_error(
                "task mix",
                {"single-view": single, "multi-view": multi},
                "only single-view or only multi-view tasks in one dataset "
                "(one sample per view vs one per tuple)",
                "Make one MultiTaskDataset per group.",
            )
        self.multiview = bool(multi)
        if self.multiview:
            self._tuple_task = multi[0]
            views0 = self._tuple_views(multi[0])
            for t in multi[1:]:
                other = self._tuple_views(t)
                if other.shape != views0.shape or not np.array_equal(other, views0):
                    raise input_error(
                        "multi-view tasks",
                        multi,
                        "tasks defined on the same view tuples",
                        f"{multi[0]} and {t} use different tuples; make one dataset per task.",
                    )
            self._index = self._tuple_rows(multi[0])
        else:
            self._index = self._split_views()

    def _tuple_views(self, task: str) -> np.ndarray:
        key = task + VIEWS_SUFFIX
        if key not in self.bank:
            raise TaskonomyError(
                f"bank {self.bank.path}: got label {task!r} without its tuples {key!r}; "
                "expected both. Regenerate the bank."
            )
        return np.asarray(self.bank.raw(key))

    def _tuple_rows(self, task: str) -> np.ndarray:
        return self.bank.tuple_rows(task, None if self.split == "all" else self.split)

    def _split_views(self) -> np.ndarray:
        if self.split == "all":
            return np.arange(self.bank.n_views)
        return self.bank.split_views(self.split)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> Sample:
        n = len(self._index)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for a dataset of {n} samples")
        row = int(self._index[i])
        bank = self.bank
        out: Sample = {}
        if self.multiview:
            views = np.asarray(bank.raw(self._tuple_task + VIEWS_SUFFIX)[row], dtype=np.int64)
            for key in self.input_keys:
                out[key] = torch.from_numpy(bank.get(key, views))  # (k, 3, H, W)
            for t in self.label_tasks:
                out[t] = _tensor(bank.get(t, row), get_task(t).label.dtype)  # type: ignore[union-attr]
            out["view_index"] = torch.from_numpy(views)
        else:
            for key in self.input_keys:
                out[key] = torch.from_numpy(bank.get(key, row))  # (3, H, W)
            for t in self.label_tasks:
                out[t] = _tensor(bank.get(t, row), get_task(t).label.dtype)  # type: ignore[union-attr]
            if self.with_mask:
                out[MASK_KEY] = torch.from_numpy(bank.get(MASK_KEY, row))  # (1, H, W) bool
            out["view_index"] = torch.tensor(row, dtype=torch.int64)
        if self.transform is not None:
            out = self.transform(out)
        return out

    def __repr__(self) -> str:
        return (
            f"MultiTaskDataset({str(self.bank.path)!r}, split={self.split!r}, "
            f"tasks={self.tasks}, samples={len(self)})"
        )


_TORCH_DTYPES = {"float32": torch.float32, "int64": torch.int64, "bool": torch.bool}


def _tensor(x: Any, dtype: str) -> torch.Tensor:
    # np.asarray keeps 0-d labels 0-d (ascontiguousarray would make them 1-d)
    return torch.from_numpy(np.asarray(x)).to(_TORCH_DTYPES[dtype])


__all__ = ["MultiTaskDataset", "Sample"]

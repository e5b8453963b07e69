"""MultiTaskDataset: sample layout, dtypes, splits, multi-view tuples and clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from taskonomy.data.bank import Bank, BankWriter
from taskonomy.data.dataset import MultiTaskDataset
from taskonomy.data.generate import generate_bank
from taskonomy.errors import TaskonomyError

SIZE = 32


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    out = tmp_path_factory.mktemp("ds") / "bank"
    generate_bank(out, scenes=3, views=3, size=SIZE, seed=5, workers=1, progress=False)
    return Bank(out)


def test_single_view_sample_layout(bank: Bank) -> None:
    # 2018 names are accepted and mapped to canonical keys
    ds = MultiTaskDataset(bank, "large", ["rgb2depth", "normal", "denoise", "class_scene",
                                          "segment_semantic", "jigsaw"])  # fmt: skip
    assert ds.tasks == ["depth_zbuffer", "normal", "denoising", "class_scene",
                        "segment_semantic", "jigsaw"]  # fmt: skip
    s = ds[0]
    expect = {
        "rgb": ((3, SIZE, SIZE), torch.float32),
        "rgb_noised": ((3, SIZE, SIZE), torch.float32),  # denoising's input
        "rgb_jigsaw": ((3, SIZE, SIZE), torch.float32),  # jigsaw's input
        "depth_zbuffer": ((1, SIZE, SIZE), torch.float32),
        "normal": ((3, SIZE, SIZE), torch.float32),
        "denoising": ((3, SIZE, SIZE), torch.float32),
        "class_scene": ((), torch.int64),
        "segment_semantic": ((SIZE, SIZE), torch.int64),
        "jigsaw": ((), torch.int64),
        "mask_valid": ((1, SIZE, SIZE), torch.bool),  # depth and normal are masked tasks
        "view_index": ((), torch.int64),
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in s.items()} == expect
    assert float(s["rgb"].min()) >= 0 and float(s["rgb"].max()) <= 1
    v = int(s["view_index"])
    assert torch.equal(s["depth_zbuffer"], torch.from_numpy(bank.get("depth_zbuffer", v)))
    assert torch.equal(s["denoising"], s["rgb"])  # the clean image is the label


def test_no_mask_without_masked_tasks(bank: Bank) -> None:
    s = MultiTaskDataset(bank, "test", ["edge_texture", "class_object"])[0]
    assert "mask_valid" not in s
    assert s["class_object"].shape == (bank.sizes["n_object_classes"],)


def test_splits_partition_the_views_by_scene(bank: Bank) -> None:
    seen: dict[str, set[int]] = {}
    for split in ("large", "small", "test"):
        ds = MultiTaskDataset(bank, split, ["autoencoding"])
        views = {int(ds[i]["view_index"]) for i in range(len(ds))}
        assert len(views) == len(ds)
        scenes = {int(bank.scene_of_view(v)) for v in views}
        assert scenes == set(bank.splits[split])
        seen[split] = views
    assert set().union(*seen.values()) == set(range(bank.n_views))
    assert sum(map(len, seen.values())) == bank.n_views


def test_multi_view_samples_are_tuples(bank: Bank) -> None:
    ds = MultiTaskDataset(bank, "all", ["ego_motion"])
    assert len(ds) == len(bank.raw("egomotion/views"))
    s = ds[0]
    assert s["rgb"].shape == (3, 3, SIZE, SIZE) and s["egomotion"].shape == (3, 6)
    views = s["view_index"].tolist()
    assert len({int(bank.scene_of_view(v)) for v in views}) == 1  # one scene per tuple
    for k, v in enumerate(views):
        assert torch.equal(s["rgb"][k], torch.from_numpy(bank.get("rgb", v)))
    pm = MultiTaskDataset(bank, "all", ["point_matching"])[0]
    assert pm["point_matching"].dtype == torch.int64 and pm["rgb"].shape[0] == 2


def test_mixing_layouts_is_refused(bank: Bank) -> None:
    with pytest.raises(TaskonomyError, match=r"single-view.*multi-view"):
        MultiTaskDataset(bank, "large", ["normal", "fixated_pose"])
    with pytest.raises(TaskonomyError, match="different tuples"):
        MultiTaskDataset(bank, "large", ["fixated_pose", "egomotion"])


def test_unknown_and_missing_tasks_are_explained(bank: Bank, tmp_path: Path) -> None:
    with pytest.raises(TaskonomyError, match="unknown task"):
        MultiTaskDataset(bank, "large", ["depth"])
    with pytest.raises(TaskonomyError, match="split"):
        MultiTaskDataset(bank, "train", ["normal"])
    w = BankWriter(tmp_path / "b", [2])
    w.add_scene({"rgb": np.zeros((2, 3, 4, 4), np.float32),
                 "edge_texture": np.zeros((2, 1, 4, 4), np.float32)}, {})  # fmt: skip
    w.finalize(splits={"large": [0]}, generator={})
    with pytest.raises(TaskonomyError, match=r"normal.*bank has labels for: edge_texture"):
        MultiTaskDataset(tmp_path / "b", "large", ["normal"])
    with pytest.raises(TaskonomyError, match="no synthetic label"):
        MultiTaskDataset(tmp_path / "b", "large", ["class_selected"])


def test_dataloader_batches_and_pickles(bank: Bank) -> None:
    ds = MultiTaskDataset(bank, "large", ["depth_euclidean", "class_scene"])
    assert len(pickle.dumps(ds)) < 200_000  # no mapped arrays in the pickle
    batch = next(iter(DataLoader(ds, batch_size=2, shuffle=False)))
    assert batch["depth_euclidean"].shape == (2, 1, SIZE, SIZE)
    assert batch["class_scene"].shape == (2,) and batch["mask_valid"].dtype == torch.bool

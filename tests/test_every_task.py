"""Every registered task with a label, end to end (timm-style: parametrized over the registry).

A new task file must pass each step with no edit anywhere else: render a tiny synthetic bank
→ bank arrays → Taskonomy layout export/import round trip → contact-sheet panel → one
training step of its task network → one transfer step into it from a frozen source encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from taskonomy.data.bank import VIEWS_SUFFIX, Bank
from taskonomy.data.dataset import MultiTaskDataset
from taskonomy.data.generate import generate_bank
from taskonomy.data.taskonomy_layout import export_taskonomy_layout, import_taskonomy_layout
from taskonomy.nn.encoders import representation_shape
from taskonomy.nn.heads import TaskModel
from taskonomy.nn.readout import build_transfer
from taskonomy.tasks import MASK_KEY, get_task, labelled_tasks
from taskonomy.train.loop import fit

SIZE = 32  # the smallest size the encoders accept comfortably
WIDTH = 8
TASKS = labelled_tasks()


@pytest.fixture(scope="module")
def banks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bank, Bank]:
    """One tiny rendered bank and its layout round trip, shared by every task."""
    root = tmp_path_factory.mktemp("every_task")
    generate_bank(root / "bank", scenes=2, views=3, size=SIZE, seed=7, workers=1, progress=False)
    export_taskonomy_layout(root / "bank", root / "layout")
    import_taskonomy_layout(root / "layout", root / "back")
    return Bank(root / "bank"), Bank(root / "back")


@pytest.fixture(scope="module")
def panel_titles(banks: tuple[Bank, Bank]) -> set[str]:
    from taskonomy.report.contact_sheet import contact_sheet_figure

    fig = contact_sheet_figure(banks[0], 0)
    return {ax.get_title() for ax in fig.axes}


def _sizes(bank: Bank) -> dict[str, int]:
    sizes = dict(bank.sizes)
    sizes.setdefault("n_jigsaw_permutations", len(bank.meta["jigsaw_permutations"]))
    return sizes


def _batch(bank: Bank, task: str) -> dict[str, torch.Tensor]:
    ds = MultiTaskDataset(bank, "all", [task])
    assert len(ds) >= 2, task
    out: dict[str, Any] = default_collate([ds[i] for i in range(len(ds))])
    return out


def _changed(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(p, before[n]) for n, p in model.state_dict().items())


def test_the_registry_has_labelled_tasks_of_every_kind() -> None:
    specs = [get_task(t) for t in TASKS]
    assert len(TASKS) >= 25  # the synthetic renderer labels all of them
    assert any(s.multiview for s in specs) and any(s.rgb_label for s in specs)
    assert any(s.masked for s in specs) and all(s.layout is not None for s in specs)


@pytest.mark.parametrize("task", TASKS)
def test_bank_holds_the_label_as_specified(banks: tuple[Bank, Bank], task: str) -> None:
    bank = banks[0]
    spec = get_task(task)
    assert spec.label is not None
    assert task in bank
    x = np.asarray(bank.get(task))
    assert x.shape[1:] == spec.label.resolve(_sizes(bank)), task
    assert x.dtype == np.dtype(spec.label.dtype)
    if spec.label.low is not None and x.dtype.kind == "f":
        assert x.min() >= spec.label.low - 1e-6
    if spec.label.high is not None and x.dtype.kind == "f":
        assert x.max() <= spec.label.high + 1e-6
    if spec.multiview:
        assert bank.raw(task + VIEWS_SUFFIX).shape[1:] == (spec.views,)
    if spec.masked:
        assert MASK_KEY in bank
    if spec.input != "rgb":
        assert spec.input in bank


@pytest.mark.parametrize("task", TASKS)
def test_layout_round_trip_keeps_the_label(banks: tuple[Bank, Bank], task: str) -> None:
    bank, back = banks
    spec = get_task(task)
    assert [s["name"] for s in back.scenes] == [s["name"] for s in bank.scenes]
    a, b = np.asarray(bank.get(task)), np.asarray(back.get(task))
    assert a.shape == b.shape and a.dtype == b.dtype, task
    if spec.multiview:
        np.testing.assert_array_equal(bank.raw(task + VIEWS_SUFFIX), back.raw(task + VIEWS_SUFFIX))
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b)
        return
    keep = np.ones(a.shape, dtype=bool)
    if spec.masked:  # invalid pixels hold no reading in the layout
        keep = np.broadcast_to(np.asarray(bank.get(MASK_KEY)), a.shape)
    err = np.abs(a - b)[keep]
    scale = max(float(np.abs(a[keep]).max()), 1e-6)
    # 8/16-bit quantization; principal curvature saturates its top 0.5 % by design
    assert float(np.quantile(err, 0.9)) <= 0.01 * scale + 1e-6, task


@pytest.mark.parametrize("task", TASKS)
def test_contact_sheet_has_a_panel(panel_titles: set[str], task: str) -> None:
    assert task in panel_titles


@pytest.mark.parametrize("task", TASKS)
def test_task_network_and_transfer_take_a_step(banks: tuple[Bank, Bank], task: str) -> None:
    torch.manual_seed(0)
    bank = banks[0]
    spec = get_task(task)
    sizes = _sizes(bank)
    batch = _batch(bank, task)
    hp: dict[str, Any] = {"steps": 1, "batch_size": 2, "lr": 1e-2, "log_every": 1}

    net = TaskModel(task, image_size=SIZE, sizes=sizes, encoder_width=WIDTH, decoder_width=WIDTH)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    log = fit(net, lambda b: net.loss(net(b), b), batch, **hp)
    assert np.isfinite(log.final_loss) and _changed(net, before), task

    # transfer: a frozen (untrained) single-view source encoder, one rep per view
    source = TaskModel("autoencoding", image_size=SIZE, encoder_width=WIDTH).encoder.eval()
    images = batch["rgb"]  # (N, 3, H, W) or (N, k, 3, H, W)
    with torch.no_grad():
        reps = source(images.reshape(-1, *images.shape[-3:]))
    reps = reps.reshape(images.shape[0], -1, *reps.shape[-2:])  # (N, k·C, h, w)
    c = representation_shape(SIZE, 8)[0]
    assert reps.shape[1] == c * spec.views
    ro = build_transfer(
        task, 1, SIZE, sizes, bottleneck_channels=8, source_channels=reps.shape[1],
        decoder_width=WIDTH,
    )  # fmt: skip
    before = {k: v.clone() for k, v in ro.state_dict().items()}
    log = fit(ro, lambda b: ro.loss(ro(b["reps"]), b), {**batch, "reps": reps}, **hp)
    assert np.isfinite(log.final_loss) and _changed(ro, before), task


def test_export_refuses_a_label_it_cannot_write(tmp_path: Path) -> None:
    from taskonomy.data.bank import BankWriter
    from taskonomy.errors import TaskonomyError

    rng = np.random.default_rng(0)
    w = BankWriter(tmp_path / "bank", [2])
    rgb = rng.random((2, 3, 4, 4), dtype=np.float32)
    w.add_scene({"rgb": rgb, "denoising": rgb}, {"z_max": 20.0})  # no rgb_noised input
    w.finalize(splits={"large": [0], "small": [], "test": []}, generator={"test": True})
    with pytest.raises(TaskonomyError, match="denoising"):
        export_taskonomy_layout(tmp_path / "bank", tmp_path / "layout")
    assert not (tmp_path / "layout").exists()

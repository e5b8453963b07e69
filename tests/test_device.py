"""Devices, mixed precision and data placement (taskonomy.train.device) on the CPU; the
CUDA checks are marked ``cuda`` and skipped (with the reason printed) without a GPU."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.execution import DEVICE_ENV, Execution, current, exported
from taskonomy.pipeline.run import Plan
from taskonomy.train.device import (
    autocast,
    check_device_name,
    module_device,
    place,
    resolve_device,
    to_channels_last,
)
from taskonomy.train.loop import _keep_improved, fit, per_image
from taskonomy.transfer.stacked import use_stacked

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device: CUDA checks skipped")


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_accepted(name: str) -> None:
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "mps", ""])
def test_bad_device_names_are_one_line_errors(name: str) -> None:
    with pytest.raises(TaskonomyError, match="expected auto, cpu, cuda or cuda:N") as err:
        check_device_name(name)
    assert "\n" not in str(err.value)


def test_auto_is_cuda_when_present_else_cpu() -> None:
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(TaskonomyError, match=r"no CUDA device.*--device cpu"):
        resolve_device("cuda:1")


def test_cli_rejects_bad_device_and_cuda_without_cuda(tmp_path: Any) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["run", "--device", "gpu", "--out", str(tmp_path / "a")])
    assert bad.exit_code != 0 and "expected auto, cpu, cuda or cuda:N" in bad.output
    assert "Traceback" not in bad.output
    if not HAS_CUDA:
        res = runner.invoke(app, ["run", "--device", "cuda", "--out", str(tmp_path / "b")])
        assert res.exit_code != 0 and "no CUDA device" in res.output
        assert not (tmp_path / "b").exists()  # refused before the run directory is made


def _keys(cfg: Any) -> dict[str, str]:
    plan = Plan(cfg)
    jobs = [plan.data, *plan.train.values(), *plan.pixels.values(),
            *plan.first_order().values()]  # fmt: skip
    return {j.label: j.key for j in jobs}


def test_device_is_not_part_of_any_job_key(tiny_config: dict[str, Any]) -> None:
    base = _keys(load_config(overrides=tiny_config))
    for device in ("cpu", "cuda", "cuda:1"):
        assert _keys(load_config(overrides={**tiny_config, "device": device})) == base
    cl = load_config(overrides={**tiny_config, "channels_last": True})
    assert _keys(cl) == base


def test_bf16_precision_enters_the_network_keys_only(tiny_config: dict[str, Any]) -> None:
    base = _keys(load_config(overrides=tiny_config))
    bf16 = _keys(load_config(overrides={**tiny_config, "precision": "bf16"}))
    assert bf16["data"] == base["data"]
    changed = [k for k in base if k != "data"]
    assert changed and all(bf16[k] != base[k] for k in changed)


def test_execution_settings_travel_in_the_environment_and_are_restored() -> None:
    before = os.environ.get(DEVICE_ENV)
    with exported(Execution("cuda:1", channels_last=True)):
        assert current() == Execution("cuda:1", True)
    assert os.environ.get(DEVICE_ENV) == before
    if before is None:
        assert current() == Execution("cpu", False)  # no settings: the CPU, as always


def test_place_on_the_cpu_is_no_copy() -> None:
    data = {"x": torch.arange(6.0), "y": torch.ones(6, 2)}
    out = place(data, torch.device("cpu"))
    assert all(out[k] is data[k] for k in data)


def test_keep_improved_copies_only_the_improved_blocks() -> None:
    saved = torch.zeros(6, 2)  # 3 packed models, 2 rows each
    current_ = torch.arange(12.0).reshape(6, 2)
    _keep_improved(saved, current_, torch.tensor([True, False, True]))
    want = torch.tensor([[0, 1], [2, 3], [0, 0], [0, 0], [8, 9], [10, 11]], dtype=torch.float)
    assert torch.equal(saved, want)
    scalar = torch.zeros(())
    _keep_improved(scalar, torch.tensor(5.0), torch.tensor([False]))
    assert scalar.item() == 0.0
    _keep_improved(scalar, torch.tensor(5.0), torch.tensor([True]))
    assert scalar.item() == 5.0


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))


def _data(n: int = 40) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, 8, 8, generator=g)
    return {"x": x, "y": x.mean(1, keepdim=True) * 2 + 1}


def _fit(model: nn.Module, precision: str = "fp32") -> torch.Tensor:
    data = _data()

    def loss(b: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((model(b["x"]) - b["y"]) ** 2).flatten(1).mean(1)

    train = {k: v[:30] for k, v in data.items()}
    val = {k: v[30:] for k, v in data.items()}
    fit(model, loss, train, steps=20, batch_size=8, lr=1e-2, seed=0, log_every=5, val=val,
        precision=precision)  # fmt: skip
    return per_image(loss, data, precision=precision)


def test_bf16_autocast_trains_and_differs_from_fp32_only_by_rounding() -> None:
    fp32 = _fit(_conv_net())
    bf16 = _fit(_conv_net(), "bf16")
    assert bf16.dtype == torch.float32 and torch.isfinite(bf16).all()
    assert not torch.equal(fp32, bf16)  # bf16 really ran (it rounds)
    assert torch.allclose(fp32, bf16, rtol=0.1, atol=0.05)


def test_channels_last_weights_train_like_contiguous_ones() -> None:
    plain = _fit(_conv_net())
    nhwc = to_channels_last(_conv_net(), True)
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    # Early stopping restores channels_last weights (no flat views of NHWC tensors).
    assert torch.allclose(_fit(nhwc), plain, rtol=1e-4, atol=1e-6)


def test_autocast_fp32_is_a_no_op() -> None:
    x = torch.randn(4, 4)
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
    with pytest.raises(TaskonomyError, match="precision"), autocast(torch.device("cpu"), "fp16"):
        pass


@pytest.mark.parametrize("target", ["segment_semantic", "segment_unsup2d", "normal",
                                    "class_scene"])  # fmt: skip
def test_stacked_auto_stacks_every_head_kind_on_a_gpu(target: str) -> None:
    assert use_stacked("auto", target, 256, "cuda")
    assert not use_stacked("never", target, 32, "cuda")


@pytest.mark.cuda
@needs_cuda
def test_fit_on_cuda_matches_the_cpu_up_to_rounding() -> None:
    cpu = _fit(_conv_net())
    gpu_model = _conv_net().cuda()
    assert module_device(gpu_model).type == "cuda"
    gpu = _fit(gpu_model)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-3, atol=1e-5)


@pytest.mark.cuda
@needs_cuda
def test_place_keeps_a_small_split_on_the_gpu_and_a_large_one_pinned() -> None:
    data = _data()
    on_gpu = place(data, torch.device("cuda"))
    assert all(v.device.type == "cuda" for v in on_gpu.values())
    pinned = place(data, torch.device("cuda"), share=0.0)
    assert all(v.device.type == "cpu" and v.is_pinned() for v in pinned.values())


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from taskonomy.data.bank import Bank
    from taskonomy.data.generate import generate_bank

    out = tmp_path_factory.mktemp("device") / "bank"
    return Bank(generate_bank(out, scenes=14, views=3, size=16, seed=1, progress=False))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_task_network_and_stacked_transfers_on_cuda_match_the_cpu(
    small_bank: Any, precision: str
) -> None:
    from taskonomy.train.network import Architecture, FitParams, fit_task_network
    from taskonomy.train.tensors import load_labels
    from taskonomy.transfer.fit import TransferParams, fit_transfers

    arch = Architecture(width=8, bottleneck_channels=4)
    params = FitParams(steps=20, batch_size=8, lr=2e-3)
    kw: dict[str, Any] = {"split": "large", "init_seed": 1, "batch_seed": 2}
    cpu = fit_task_network("depth_zbuffer", small_bank, arch, params, **kw)
    gpu = fit_task_network("depth_zbuffer", small_bank, arch, params, **kw,
                           device=torch.device("cuda"), precision=precision,
                           channels_last=True)  # fmt: skip
    assert gpu.losses.device.type == "cpu" and gpu.losses.dtype == torch.float32
    tol = 1e-3 if precision == "fp32" else 0.1
    assert torch.allclose(gpu.losses, cpu.losses, rtol=tol, atol=tol)
    g = torch.Generator().manual_seed(0)
    reps = {split: {s: torch.randn(len(load_labels(small_bank, "normal", split)["normal"]),
                                   4, 2, 2, generator=g) for s in ("a", "b")}
            for split in ("small", "test")}  # fmt: skip
    labels = {split: load_labels(small_bank, "normal", split) for split in ("small", "test")}
    tp = TransferParams(steps=10, batch_size=8, lr=2e-3)
    on_cpu = fit_transfers("normal", [["a"], ["b"]], reps, labels, small_bank, arch, tp, seed=0)
    on_gpu = fit_transfers("normal", [["a"], ["b"]], reps, labels, small_bank, arch, tp, seed=0,
                           device=torch.device("cuda"), precision=precision)  # fmt: skip
    assert on_gpu.stacked  # auto stacks every head kind on a GPU
    assert torch.allclose(on_gpu.losses, on_cpu.losses, rtol=tol, atol=tol)


def test_output_stride_enters_the_keys_only_when_not_16(tiny_config: dict[str, Any]) -> None:
    base = _keys(load_config(overrides=tiny_config))
    model = dict(tiny_config.get("model", {}))
    same = load_config(overrides={**tiny_config, "model": {**model, "output_stride": 16}})
    assert _keys(same) == base  # runs made before the key existed keep their jobs
    eight = _keys(load_config(overrides={**tiny_config, "model": {**model, "output_stride": 8}}))
    assert eight["data"] == base["data"]
    assert all(eight[k] != base[k] for k in base if k != "data")
    with pytest.raises(TaskonomyError, match="output_stride 8 needs encoder small_resnet"):
        load_config(overrides={**tiny_config, "model": {"encoder": "resnet50", "output_stride": 8}})

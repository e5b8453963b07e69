"""Issue 12 item 4: outside encoders (``sources`` in a run config) as transfer sources.

The models come from ``tests/_outside_models.py`` through ``python:<module>:<factory>`` and
their weights from files the tests write (nothing is downloaded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from _outside_models import flat_net, small_cnn, token_net
from conftest import TINY_RUN
from taskonomy.affinity.table import Transfer, read_table
from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.estimate import estimate_run
from taskonomy.pipeline.executors import InProcessExecutor
from taskonomy.pipeline.run import run_pipeline
from taskonomy.taxonomy.bip import TaxonomyBIP
from taskonomy.transfer.outside import (
    OutsideEncoder,
    as_maps,
    build_architecture,
    load_into,
    load_weights,
    to_grid,
)

CNN = "python:_outside_models:small_cnn"
TOKENS = "python:_outside_models:token_net"
runner = CliRunner()


def _perturbed(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The model's state dict with seeded random values (so a file differs from the init)."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) * 0.3 for k, v in model.state_dict().items()}


def _write_weights(folder: Path, seed: int = 1) -> tuple[Path, Path]:
    st = folder / "cnn.safetensors"
    save_file(_perturbed(small_cnn(), seed), str(st))
    pt = folder / "tokens.pt"
    torch.save(_perturbed(token_net(), seed), pt)
    return st, pt


def _sources(st: Path, pt: Path) -> list[dict[str, Any]]:
    return [
        {"name": "ext:cnn", "architecture": CNN, "weights": str(st), "layer": "0",
         "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        {"name": "ext:tok", "architecture": TOKENS, "weights": str(pt), "layer": "blocks"},
    ]  # fmt: skip


def _executed(result: Any) -> list[str]:
    return [r.job.name for rep in result.reports for r in rep.executed]


# ---------------------------------------------------------------- the representation


def test_layer_outputs_become_maps_on_the_family_grid() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (N, D, 4)
    assert as_maps(x.reshape(2, 12)).shape == (2, 12, 1, 1)
    tokens = torch.randn(2, 1 + 9, 5)  # a class token, then a 3×3 grid of 5-d tokens
    maps = as_maps(tokens)
    assert maps.shape == (2, 5, 3, 3)
    # token 1 + (row 1, column 2) is grid cell [1, 2]
    assert torch.equal(maps[:, :, 1, 2], tokens[:, 1 + 1 * 3 + 2])
    assert torch.equal(as_maps(tokens[:, 1:]), maps)  # no class token: the same grid
    with pytest.raises(TaskonomyError, match="7 tokens"):
        as_maps(torch.zeros(1, 7, 4))
    with pytest.raises(TaskonomyError, match="shape"):
        as_maps(torch.zeros(1, 2, 3, 4, 5))
    # shrinking averages cells: 4×4 → 2×2 is the mean of each 2×2 block
    m = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert to_grid(m, (2, 2)).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    # a vector becomes a constant map
    assert torch.equal(
        to_grid(torch.full((1, 2, 1, 1), 3.0), (2, 2)), torch.full((1, 2, 2, 2), 3.0)
    )


def test_encoder_normalizes_reads_the_layer_and_stops_there() -> None:
    model = small_cnn()
    calls: list[int] = []
    model[3].register_forward_hook(lambda *_: calls.append(1))  # the final linear layer
    enc = OutsideEncoder(model, "0.0", [0.5, 0.4, 0.3], [0.2, 0.25, 0.5], (8, 8))
    x = torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.5]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model[0][0]((x - mean) / std)  # (2, 6, 8, 8): already on the grid
    assert torch.allclose(enc(x), expected)
    assert calls == []  # the forward pass stopped at the layer
    with pytest.raises(TaskonomyError, match=r"layer 'nope' .*e\.g\. 0, 0\.0, 0\.1") as err:
        OutsideEncoder(small_cnn(), "nope", [0, 0, 0], [1, 1, 1], (2, 2))
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- weights files


class _Payload:
    """Any object a pickle could carry (and run code when loaded): never unpickled."""


def test_pt_with_a_non_tensor_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"0.0.weight": torch.zeros(6, 3, 3, 3), "payload": _Payload()}, path)
    with pytest.raises(TaskonomyError, match=r"refused to load.*weights_only") as err:
        load_weights(path)
    assert "\n" not in str(err.value)


def test_pt_checkpoint_wrappers_and_safetensors_load(tmp_path: Path) -> None:
    state = _perturbed(small_cnn(), 5)
    torch.save({"state_dict": state}, tmp_path / "wrapped.pt")
    save_file(state, str(tmp_path / "w.safetensors"))
    for name in ("wrapped.pt", "w.safetensors"):
        loaded = load_weights(tmp_path / name)
        assert sorted(loaded) == sorted(state)
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(TaskonomyError, match="not a readable safetensors"):
        load_weights(tmp_path / "bad.safetensors")


def test_mismatched_state_dict_names_missing_and_unexpected_keys() -> None:
    state = _perturbed(small_cnn(), 2)
    state["extra.weight"] = state.pop("3.weight")
    with pytest.raises(TaskonomyError) as err:
        load_into(small_cnn(), state, "outside source 'ext:x'")
    msg = str(err.value)
    assert "1 missing keys ['3.weight']" in msg and "1 unexpected keys ['extra.weight']" in msg
    state = _perturbed(token_net(), 2)  # same names for `patch`, wrong shapes elsewhere
    with pytest.raises(TaskonomyError, match="missing keys"):
        load_into(small_cnn(), state, "x")


def test_architecture_schemes_without_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as on a machine without the extra.
    monkeypatch.setitem(__import__("sys").modules, "timm", None)
    monkeypatch.setitem(__import__("sys").modules, "torchvision", None)
    monkeypatch.setitem(__import__("sys").modules, "torchvision.models", None)
    for spec, package in (("timm:resnet18", "timm"), ("torchvision:resnet18", "torchvision")):
        with pytest.raises(
            TaskonomyError, match=rf"cannot import {package} .*taskonomy\[outside\]"
        ):
            build_architecture(spec)
    with pytest.raises(TaskonomyError, match="returned str"):
        build_architecture("python:_outside_models:not_a_module")
    with pytest.raises(TaskonomyError, match="cannot import module 'no_such_module_xyz'"):
        build_architecture("python:no_such_module_xyz:f")


# ---------------------------------------------------------------- config and CLI errors


def _cli_run(tmp_path: Path, source: dict[str, Any], **extra: Any) -> Any:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({**TINY_RUN, "sources": [source], **extra}))  # JSON is YAML
    return runner.invoke(
        app, ["run", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-report"]
    )


def _bad_sources(tmp_path: Path) -> dict[str, tuple[dict[str, Any], str]]:
    st, _ = _write_weights(tmp_path)
    (tmp_path / "w.bin").write_bytes(b"x")
    good = {"name": "ext:cnn", "architecture": CNN, "weights": str(st), "layer": "0"}
    wrong = tmp_path / "wrong.safetensors"
    save_file(_perturbed(token_net(), 1), str(wrong))
    flat = tmp_path / "flat.safetensors"
    save_file(_perturbed(flat_net(), 1), str(flat))
    return {
        "forward": (
            {
                **good,
                "architecture": "python:_outside_models:flat_net",
                "weights": str(flat),
                "layer": "1",
            },
            "encoding one 32² image failed",
        ),
        "factory": ({**good, "architecture": "python:_outside_models:broken"}, "raised"),
        "task name": ({**good, "name": "normal"}, "'normal' is a registered task"),
        "no prefix": ({**good, "name": "cnn"}, "must be 'ext:'"),
        "scheme": ({**good, "architecture": "keras:resnet"}, "expected 'timm:<name>'"),
        "missing file": ({**good, "weights": str(tmp_path / "none.pt")}, "does not exist"),
        "suffix": ({**good, "weights": str(tmp_path / "w.bin")}, "expected a .safetensors or .pt"),
        "layer": ({**good, "layer": "features"}, "layer 'features' is not a submodule"),
        "keys": ({**good, "weights": str(wrong)}, "missing keys"),
        "std": ({**good, "std": [0.2, 0.0, 0.2]}, "greater than 0"),
    }


def test_bad_outside_sources_are_one_line_errors_exit_2(tmp_path: Path) -> None:
    for name, (source, expected) in _bad_sources(tmp_path).items():
        res = _cli_run(tmp_path, source)
        assert res.exit_code == 2, (name, res.output)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, name
        assert expected in res.stderr, (name, res.stderr)
        assert not (tmp_path / "run").exists(), name


def test_outside_names_only_under_sources(tmp_path: Path) -> None:
    st, _ = _write_weights(tmp_path)
    src = {"name": "ext:cnn", "architecture": CNN, "weights": str(st), "layer": "0"}
    with pytest.raises(TaskonomyError, match="go under `sources`"):
        load_config(overrides={**TINY_RUN, "tasks": [*TINY_RUN["tasks"], "ext:cnn"]})
    with pytest.raises(TaskonomyError, match="duplicate outside source"):
        load_config(overrides={**TINY_RUN, "sources": [src, src]})
    # relative weights paths are read from the config file's folder
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "cfg.yaml"
    cfg.write_text(json.dumps({**TINY_RUN, "sources": [{**src, "weights": "../cnn.safetensors"}]}))
    assert Path(load_config(cfg).sources[0].weights) == st.resolve()


# ---------------------------------------------------------------- BIP


def test_bip_treats_outside_sources_as_free() -> None:
    table = {
        Transfer(("self",), "normal"): 0.6, Transfer(("ext:a",), "normal"): 0.4,
        Transfer(("self",), "reshading"): 0.5, Transfer(("ext:a",), "reshading"): 0.45,
        Transfer(("ext:a", "normal"), "reshading"): 0.55,
    }  # fmt: skip
    from taskonomy.affinity.table import TransferTable

    t = TransferTable(table)
    bip = TaxonomyBIP(budget=0).fit(t)  # nothing trained: both served by ext:a alone
    assert bip.scratch_ == () and bip.objective_ == pytest.approx(0.85)
    bip = TaxonomyBIP(budget=1).fit(t)  # normal trained; ext:a + normal costs only normal
    assert bip.scratch_ == ("normal",) and bip.objective_ == pytest.approx(1.15)
    with pytest.raises(TaskonomyError, match="label_cost of 'ext:a'"):
        TaxonomyBIP(budget=1, label_cost={"ext:a": 1.0}).fit(t)
    # an explicit source list without it: not available
    bip = TaxonomyBIP(budget=1, sources=["normal"], targets=["normal"]).fit(t)
    assert bip.policy_.choices["normal"].sources == ("normal",)


# ---------------------------------------------------------------- end to end


def test_tiny_run_with_outside_sources_resumes_and_reencodes_a_changed_file(
    tmp_path: Path,
) -> None:
    st, pt = _write_weights(tmp_path)
    overrides = {**TINY_RUN, "sources": _sources(st, pt)}
    out = tmp_path / "run"
    first = run_pipeline(load_config(overrides=overrides), out, executor=InProcessExecutor())

    targets = set(first.affinities.targets())
    assert not any(t.startswith("ext:") for t in targets)  # source-only
    for src in ("ext:cnn", "ext:tok"):
        for t in targets:
            assert first.affinities.value([src], t) is not None
    # higher orders may pick them (the paper's selection from the first-order ranking)
    on_disk = read_table(out / "tables" / "affinities.csv")
    assert set(on_disk) == set(first.affinities)
    for name, record in first.taxonomies.items():  # free: never trained from scratch
        assert not any(s.startswith("ext:") for s in record.get("scratch", [])), name
    # the encode caches: C = the layer's channels, on the family's grid
    encodes = {
        json.loads((d / "job.json").read_text())["params"]["source"]: d
        for d in (out / "jobs" / "encode").iterdir()
    }
    small = np.load(encodes["ext:cnn"] / "small.npy", mmap_mode="r")
    family = np.load(encodes["random"] / "small.npy", mmap_mode="r")
    assert small.shape[1] == 10 and small.shape[2:] == family.shape[2:]
    assert np.load(encodes["ext:tok"] / "test.npy", mmap_mode="r").shape[1] == 12

    again = run_pipeline(load_config(overrides=overrides), out, executor=InProcessExecutor())
    assert _executed(again) == []
    assert dict(again.affinities) == dict(first.affinities)

    torch.save(_perturbed(token_net(), 9), pt)  # same path, new content
    changed = run_pipeline(load_config(overrides=overrides), out, executor=InProcessExecutor())
    names = _executed(changed)
    assert any(n.startswith("encode ext:tok") for n in names)
    assert not any(n.startswith(("encode ext:cnn", "train", "pixels", "data")) for n in names)
    # every rerun transfer group reads ext:tok (the ranking may add new ones that do not)
    assert names and all(n.startswith(("encode ext:tok", "transfers")) for n in names)

    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "report" / "index.html").read_text()
    assert "source-only (never trained, free in the BIP): <code>ext:cnn</code>" in page

    # estimated like any source: the cheap estimators read the outside encode caches too
    est = estimate_run(out, ["cka", "ridge"], max_order=1, replicates=20)
    for name in ("cka", "ridge"):
        table = est.tables[name]
        for src in ("ext:cnn", "ext:tok"):
            assert all(table.value([src], t) is not None for t in targets), (name, src)
    assert set(est.calibration) == {"cka", "ridge"}

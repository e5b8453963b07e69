"""Run configuration: pydantic models, YAML presets, and override-only-what-changes files.

A config file may name a ``preset`` and override any subset of its keys::

    preset: quick
    seed: 3
    train:
      steps: 400

Unknown keys and bad values are errors that name the offending key.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taskonomy.errors import TaskonomyError, input_error
from taskonomy.tasks import canonical_name, get_task

PRESETS = ("quick", "standard", "paper")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    source: Literal["synthetic", "taskonomy"] = "synthetic"
    path: str | None = None  # a Taskonomy-layout folder when source == "taskonomy"
    scenes: int = Field(60, ge=3)
    views: int = Field(6, ge=3)
    size: int = Field(64, ge=16)
    splits: dict[str, float] = Field(
        default_factory=lambda: {"large": 0.6, "small": 0.2, "test": 0.2}
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if set(self.splits) != {"large", "small", "test"}:
            raise ValueError(f"splits must be large/small/test, got {sorted(self.splits)}")
        if self.source == "taskonomy" and not self.path:
            raise ValueError("data.path is required when data.source is 'taskonomy'")
        return self


class ModelConfig(_Strict):
    encoder: Literal["small_resnet", "resnet50"] = "small_resnet"
    width: int = Field(32, ge=4)  # small_resnet's base width (resnet50's is fixed)
    decoder_width: int | None = Field(None, ge=4)  # the decoders' widest layer; None: width
    bottleneck_channels: int = Field(8, ge=1)


class TrainConfig(_Strict):
    steps: int = Field(600, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)


class TransferConfig(_Strict):
    max_order: int = Field(2, ge=1)
    # Train a target's transfers of one order as one grouped network (same arithmetic as one
    # by one). "auto": always for pooled (vector/class) heads; for dense regression maps up
    # to 64², where grouped convolutions beat separate ones on a CPU; never for per-pixel
    # logits or embeddings (benchmarks/bench_transfer.py).
    stacked: Literal["auto", "always", "never"] = "auto"
    steps: int = Field(300, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)


class TaxonomyConfig(_Strict):
    budgets: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 8])
    orders: list[int | None] = Field(default_factory=lambda: [1, 2, None])


class UncertaintyConfig(_Strict):
    """Bootstrap intervals, taxonomy stability and significance (issue 13)."""

    enabled: bool = True
    replicates: int = Field(1000, ge=1)  # bootstrap replicates of the whole AHP chain
    level: float = Field(0.95, gt=0, lt=1)  # two-sided coverage of the intervals
    stability_replicates: int = Field(200, ge=1)  # BIP re-solves per taxonomy
    random_policies: int = Field(1000, ge=1)  # random feasible policies per taxonomy


class RunConfig(_Strict):
    preset: str | None = None
    seed: int = 0
    tasks: list[str]
    novel: list[str] = Field(default_factory=list)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    pixels: TrainConfig = Field(default_factory=lambda: TrainConfig(steps=300))
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    taxonomy: TaxonomyConfig = Field(default_factory=TaxonomyConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)
    workers: int = Field(2, ge=1)
    # "stop": a task network that does not beat the mean-label guess ends the run.
    sanity: Literal["stop", "warn"] = "stop"

    @field_validator("tasks", "novel")
    @classmethod
    def _canonical(cls, names: list[str]) -> list[str]:
        out = []
        for n in names:
            try:
                out.append(canonical_name(n))
            except TaskonomyError as exc:
                raise ValueError(str(exc)) from None
        if len(set(out)) != len(out):
            raise ValueError(f"duplicate task names in {names}")
        return out

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        for n in self.tasks:
            if get_task(n).role == "published_only":
                raise ValueError(f"task {n!r} exists only in the published 2018 files")
        stray = [n for n in self.novel if n not in self.tasks]
        if stray:
            raise ValueError(f"novel tasks {stray} must also be listed in tasks")
        return self


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def preset_dict(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise input_error("preset", name, f"one of {', '.join(PRESETS)}")
    text = resources.files("taskonomy.pipeline").joinpath(f"presets/{name}.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _validate(data: dict[str, Any], origin: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = "" if not err["loc"] else f" (got {err.get('input')!r:.120})"
        raise TaskonomyError(
            f"{origin}: invalid config at {loc!r}: {err['msg']}{got}. "
            f"Fix that key; see the presets in taskonomy/pipeline/presets/."
        ) from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Preset → file → overrides, each overriding only what it names."""
    data: dict[str, Any] = {}
    origin = "config"
    file_data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        origin = str(p)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise input_error("config file", str(p), "a readable YAML file", str(exc)) from None
        except yaml.YAMLError as exc:
            raise TaskonomyError(f"{p}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise input_error(f"{p}: top level", type(loaded).__name__, "a mapping of keys")
        file_data = loaded
    name = preset or file_data.get("preset")
    if name is not None:
        data = preset_dict(str(name))
        data["preset"] = name
    data = _deep_merge(data, file_data)
    if overrides:
        data = _deep_merge(data, overrides)
    if "tasks" not in data:
        raise TaskonomyError(f"{origin}: no 'tasks' given; name a preset or list tasks.")
    return _validate(data, origin)


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)

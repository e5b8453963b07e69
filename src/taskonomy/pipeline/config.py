"""Run configuration: pydantic models, YAML presets, and override-only-what-changes files.

A config file may name a ``preset`` and override any subset of its keys::

    preset: quick
    seed: 3
    train:
      steps: 400

Unknown keys and bad values are errors that name the offending key.
"""

from __future__ import annotations

import math
import os
import reprlib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from taskonomy.errors import TaskonomyError, input_error
from taskonomy.tasks import OUTSIDE_PREFIX, TASKS, canonical_name, get_task, is_outside

PRESETS = ("quick", "laptop", "standard", "paper")


class _Strict(BaseModel):
    # allow_inf_nan=False: `lr: .inf` or `.nan` is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# YAML reads `true`/`false` as bools and pydantic would take them for 1/0: integers are strict.
Int = StrictInt


def _task_name(name: str) -> str:
    """``name``'s registry name, or a ValueError (pydantic's) with the registry's message."""
    try:
        return canonical_name(name)
    except TaskonomyError as exc:
        raise ValueError(str(exc)) from None


class DataConfig(_Strict):
    source: Literal["synthetic", "taskonomy"] = "synthetic"
    path: str | None = None  # a Taskonomy-layout folder when source == "taskonomy"
    # Label scales of a Taskonomy layout without taskonomy_export.json (the import refuses
    # to guess them), and what to do with views missing a file.
    z_max: float | None = Field(None, gt=0)
    curvature_scale: float | None = Field(None, gt=0)
    on_missing: Literal["error", "skip"] = "error"
    scenes: Int = Field(60, ge=3)
    views: Int = Field(6, ge=3)
    size: Int = Field(64, ge=16)
    splits: dict[str, float] = Field(
        default_factory=lambda: {"large": 0.6, "small": 0.2, "test": 0.2}
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if set(self.splits) != {"large", "small", "test"}:
            raise ValueError(f"splits must be large/small/test, got {sorted(self.splits)}")
        # Every stage needs scenes: networks train on large, transfers on small, tests on test.
        bad = {k: v for k, v in self.splits.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise ValueError(f"every split fraction must be a number > 0, got {bad}")
        if self.source == "taskonomy" and not self.path:
            raise ValueError("data.path is required when data.source is 'taskonomy'")
        return self


class ModelConfig(_Strict):
    encoder: Literal["small_resnet", "resnet50"] = "small_resnet"
    width: Int = Field(32, ge=4)  # small_resnet's base width (resnet50's is fixed)
    decoder_width: Int | None = Field(None, ge=4)  # the decoders' widest layer; None: width
    bottleneck_channels: Int = Field(8, ge=1)
    # The representation grid is size / output_stride: 16 as the paper (16×16 at 256²);
    # 8 for small images, where 16 leaves a 2×2 grid (docs/representation.md).
    output_stride: Literal[8, 16] = 16

    @model_validator(mode="after")
    def _check_stride(self) -> ModelConfig:
        if self.encoder == "resnet50" and self.output_stride != 16:
            raise ValueError("output_stride 8 needs encoder small_resnet (resnet50 has 16)")
        return self


class TrainParams(_Strict):
    """One network's schedule: what a train/pixels job's key holds."""

    steps: Int = Field(600, ge=1)
    batch_size: Int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)


class TrainOverride(_Strict):
    """Fields of :class:`TrainParams` that one task's networks set otherwise."""

    steps: Int | None = Field(None, ge=1)
    batch_size: Int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)


class TrainConfig(TrainParams):
    # Per-task overrides (`tasks: {fixated_pose: {lr: 0.0005}}`): a network that needs its own
    # schedule, as the paper tuned its networks per task. Only the named tasks' job keys change.
    tasks: dict[str, TrainOverride] = Field(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _canonical_tasks(cls, tasks: dict[str, TrainOverride]) -> dict[str, TrainOverride]:
        out: dict[str, TrainOverride] = {}
        for name, over in tasks.items():
            key = _task_name(name)
            if key in out:
                raise ValueError(f"task {key!r} is named twice")
            out[key] = over
        return out

    def for_task(self, task: str) -> TrainParams:
        """``task``'s schedule: these fields with the task's overrides applied."""
        base = self.model_dump(exclude={"tasks"})
        over = self.tasks.get(task)
        if over is not None:
            base.update(over.model_dump(exclude_none=True))
        return TrainParams(**base)


class ActiveConfig(_Strict):
    """Knobs of ``transfer.selection: active`` (:mod:`taskonomy.taxonomy.active`)."""

    # A probe trains ``probe_fraction`` of ``transfer.steps`` (its own warm-up and decay).
    probe_fraction: float = Field(0.125, gt=0, lt=1)
    # Learning-curve bounds are widened by this share of the widest change seen.
    margin: float = Field(0.5, ge=0)
    # Round 1 fully trains each target's ``initial`` best transfers by probe affinity: the
    # first learning curves of the target (at least one is needed for finite bounds).
    initial: Int = Field(2, ge=1)
    # "transfer": fully train only the flagged transfers (a stacked job of their own);
    # "whole": a flagged transfer's whole (target, order) group, as `all` trains it: the
    # same job, so the same numbers (other group sizes round differently; docs/active.md).
    groups: Literal["transfer", "whole"] = "transfer"


class TransferConfig(_Strict):
    max_order: Int = Field(2, ge=1)
    # Train a target's transfers of one order as one grouped network (same arithmetic as one
    # by one). "auto": always for pooled (vector/class) heads; for dense regression maps up
    # to 64², where grouped convolutions beat separate ones on a CPU; never for per-pixel
    # logits or embeddings (benchmarks/bench_transfer.py).
    stacked: Literal["auto", "always", "never"] = "auto"
    steps: Int = Field(300, ge=1)
    batch_size: Int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    # After measuring: cheap affinity estimates from the cached representations and their
    # calibration (taskonomy estimate; docs/estimate.md). Not a transfer job param.
    estimate: bool = False
    # "active": probe every transfer briefly and fully train only those that could change
    # the ranking or a policy (docs/active.md). Not a transfer job param (nor `active`).
    selection: Literal["all", "active"] = "all"
    active: ActiveConfig = Field(default_factory=lambda: ActiveConfig())

    @model_validator(mode="after")
    def _check_estimate(self) -> TransferConfig:
        if self.selection == "active" and self.estimate:
            # the calibration reads every transfer's full-training job, which active skips
            raise ValueError(
                "estimate needs selection: all (it calibrates against every trained "
                "transfer); run `taskonomy estimate` on an `all` run instead"
            )
        return self


class TaxonomyConfig(_Strict):
    budgets: list[Annotated[Int, Field(ge=0)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 8]
    )
    orders: list[Annotated[Int, Field(ge=1)] | None] = Field(default_factory=lambda: [1, 2, None])
    # With several seeds: plan from the first seed's affinities, or from their mean.
    plan_from: Literal["seed", "mean"] = "seed"


class ResourcesConfig(_Strict):
    """What one job of each kind asks a Ray cluster for (``--executor ray``).

    GPUs are requested only where the cluster has GPUs; a fraction (0.25) lets several
    transfer jobs share one device. Kinds not named ask for ``cpus`` 1 and no GPU.
    """

    gpus: dict[str, float] = Field(
        default_factory=lambda: {"train": 1.0, "pixels": 0.5, "encode": 0.25, "transfer": 0.25}
    )
    cpus: dict[str, float] = Field(default_factory=lambda: {"data": 1.0})
    # Ray retries a job whose worker died (node lost, OOM-killed); jobs commit atomically,
    # so a retried job never sees a half-written folder.
    max_retries: int = Field(3, ge=0)

    @field_validator("gpus", "cpus")
    @classmethod
    def _non_negative(cls, amounts: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in amounts.items() if v < 0 or (v > 1 and v != int(v))}
        if bad:
            raise ValueError(f"amounts must be fractions <= 1 or whole numbers >= 0, got {bad}")
        return amounts


class UncertaintyConfig(_Strict):
    """Bootstrap intervals, taxonomy stability and significance."""

    enabled: bool = True
    replicates: Int = Field(1000, ge=1)  # bootstrap replicates of the whole AHP chain
    level: float = Field(0.95, gt=0, lt=1)  # two-sided coverage of the intervals
    stability_replicates: Int = Field(200, ge=1)  # BIP re-solves per taxonomy
    random_policies: Int = Field(1000, ge=1)  # random feasible policies per taxonomy


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OutsideSourceConfig(_Strict):
    """An outside encoder used as a (source-only, free) transfer source.

    ``architecture``: ``timm:<name>``, ``torchvision:<name>`` or ``python:<module>:<factory>``
    (:mod:`taskonomy.transfer.outside`); ``weights``: a local ``.safetensors``/``.pt`` state
    dict (relative paths: from the config file's folder); ``layer``: the submodule whose
    output is the representation; ``mean``/``std``: the RGB normalization it was trained with.
    """

    name: str
    architecture: str
    weights: str
    layer: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[Annotated[float, Field(gt=0)], ...] = IMAGENET_STD

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if is_outside(name):
            return name
        clash = f" ({name!r} is a registered task)" if name in TASKS else ""
        raise ValueError(
            f"an outside source's name must be '{OUTSIDE_PREFIX}' followed by letters, digits, "
            f"'_', '.' or '-'{clash}, e.g. '{OUTSIDE_PREFIX}resnet18'"
        )

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, spec: str) -> str:
        from taskonomy.transfer.outside import check_architecture

        try:
            check_architecture(spec)
        except TaskonomyError as exc:
            raise ValueError(str(exc)) from None
        return spec

    @field_validator("weights")
    @classmethod
    def _weights(cls, path: str) -> str:
        from taskonomy.transfer.outside import check_weights_path

        try:
            return str(check_weights_path(path).resolve())
        except TaskonomyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("std")
    @classmethod
    def _std(cls, std: tuple[float, ...]) -> tuple[float, ...]:
        if len(std) != 3:
            raise ValueError(f"std needs 3 values (R, G, B), got {len(std)}")
        return std


class RunConfig(_Strict):
    preset: str | None = None
    seed: Int = Field(0, ge=0)
    # Several training seeds sharing one data job (``taskonomy run --seeds 0,1``); the
    # data stays drawn from ``data_seed`` (default: ``seed``).
    seeds: list[Annotated[Int, Field(ge=0)]] | None = Field(None, min_length=1)
    data_seed: Int | None = Field(None, ge=0)
    tasks: list[str] = Field(min_length=1)
    novel: list[str] = Field(default_factory=list)
    # Outside encoders: extra source-only transfer sources (free in the BIP).
    sources: list[OutsideSourceConfig] = Field(default_factory=list)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    pixels: TrainConfig = Field(default_factory=lambda: TrainConfig(steps=300))
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    taxonomy: TaxonomyConfig = Field(default_factory=TaxonomyConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)
    workers: Int = Field(2, ge=1)
    # Math-library threads of every train/encode/transfer job, whatever runs it (in-process,
    # pool, Ray): part of the job keys, since float reductions differ between thread counts.
    # 1 was fastest side by side (benchmarks/bench_threads.py); parallelism comes from workers.
    threads_per_job: Int = Field(1, ge=1)
    # "stop": a task network that does not beat the constant guess (or kept step 0) ends the run.
    sanity: Literal["stop", "warn"] = "stop"
    # Execution settings (taskonomy.train.device): where jobs compute. ``device`` is not
    # part of any job key (a CPU run's keys and numbers do not depend on it); ``precision``
    # bf16 changes the numbers, so it enters the network/transfer jobs' keys when used.
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)

    @field_validator("device")
    @classmethod
    def _device(cls, name: str) -> str:
        from taskonomy.train.device import check_device_name

        try:
            return check_device_name(name)
        except TaskonomyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("tasks", "novel")
    @classmethod
    def _canonical(cls, names: list[str]) -> list[str]:
        out = [_task_name(n) for n in names]
        if len(set(out)) != len(out):
            raise ValueError(f"duplicate task names in {names}")
        return out

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        for n in self.tasks:
            if get_task(n).role == "published_only":
                raise ValueError(f"task {n!r} exists only in the published 2018 files")
        if not any(get_task(n).role == "task" for n in self.tasks):
            # `random` (or only source tasks): nothing to transfer into or plan for
            raise ValueError(f"tasks {self.tasks} name no target task (e.g. normal)")
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"duplicate seeds in {self.seeds}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate outside source names in {names}")
        stray = [n for n in self.tasks if is_outside(n)]
        if stray:
            raise ValueError(f"outside sources {stray} go under `sources` (with their weights)")
        stray = [n for n in self.novel if n not in self.tasks]
        if stray:
            raise ValueError(f"novel tasks {stray} must also be listed in tasks")
        networks = [n for n in self.tasks if get_task(n).head is not None]
        stray = [n for n in self.train.tasks if n not in networks]
        if stray:
            raise ValueError(
                f"train.tasks names {stray}, which are not networks of this run: "
                f"name tasks of `tasks` that train a network ({', '.join(networks)})"
            )
        # small-data scratch networks are trained for target tasks only (Gain's baseline)
        targets = [n for n in networks if get_task(n).role == "task"]
        stray = [n for n in self.pixels.tasks if n not in targets]
        if stray:
            raise ValueError(
                f"pixels.tasks names {stray}, which have no small-data scratch network in "
                f"this run: name target tasks of `tasks` ({', '.join(targets)})"
            )
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


_short_repr = reprlib.Repr()  # keyword arguments need Python 3.12
_short_repr.maxlevel, _short_repr.maxlist, _short_repr.maxdict = 3, 6, 6
_short_repr.maxstring, _short_repr.maxother = 60, 60


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: a config never needs them, and a few
    hundred bytes of nested aliases expand to hundreds of megabytes (a "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "YAML anchors and aliases (&name, *name) are not allowed in a config; "
                "write the values out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _validate(data: dict[str, Any], origin: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # reprlib: never build the full repr of a huge input just to cut it to 120 chars
        got = "" if not err["loc"] else f" (got {_short_repr.repr(err.get('input'))})"
        raise TaskonomyError(
            f"{origin}: invalid config at {loc!r}: {err['msg']}{got}. "
            f"Fix that key; see the presets in taskonomy/pipeline/presets/."
        ) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _weights_from(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``sources[].weights`` given relative in a config file are relative to its folder."""
    sources = data.get("sources")
    if not isinstance(sources, list):
        return data
    fixed = [
        {**s, "weights": str(folder / s["weights"])}
        if isinstance(s, dict) and isinstance(s.get("weights"), str)
        and not Path(s["weights"]).is_absolute()
        else s
        for s in sources
    ]  # fmt: skip
    return {**data, "sources": fixed}


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
            loaded = yaml.load(p.read_text(encoding="utf-8-sig"), Loader=_NoAliasLoader)
        except OSError as exc:
            raise input_error("config file", str(p), "a readable YAML file", str(exc)) from None
        except UnicodeDecodeError as exc:
            raise input_error(
                f"config file {p}",
                f"byte {exc.object[exc.start]:#04x} at offset {exc.start}",
                "UTF-8 text",
                "Save the file as UTF-8.",
            ) from None
        except yaml.YAMLError as exc:
            raise TaskonomyError(f"{p}: not valid YAML: {_one_line(str(exc))}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise input_error(f"{p}: top level", type(loaded).__name__, "a mapping of keys")
        file_data = _weights_from(loaded, p.parent)
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

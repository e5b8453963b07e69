"""The learning pipeline's job kinds: data, train, pixels, encode, transfer.

Every job reads only its dependencies' artifacts and writes into its own folder:

==========  ===========================================================================
kind        artifacts
==========  ===========================================================================
data        ``bank/`` (the image bank: synthetic, or imported from a Taskonomy layout)
train       ``model.safetensors``; ``test_losses.npy`` (N_test,) of the network (the
            target's ``self``); ``guess_losses.npy`` (N_test,) of the loss-optimal constant
pixels      ``model.safetensors``; ``test_losses.npy``: small-data scratch network
encode      ``small.npy``/``test.npy`` (N, C, h, w) float32 representations of every view
            of the split, ``small_views.npy``/``test_views.npy`` their global view ids
transfer    ``readouts.safetensors`` (stacked) or ``readout{i}.safetensors``;
            ``test_losses.npy`` (M, N_test) of the target; ``transfers.json`` the M sets
==========  ===========================================================================

An outside encoder's ``encode`` job (``RunConfig.sources``) depends on the data job only; its
params hold the declaration and the weights file's digest
(:mod:`taskonomy.transfer.outside`), and its cache is on the family's bottleneck grid.

Frozen source encoders always see the *target's* input image (``TaskSpec.input``, RGB for
almost every target), so every transfer into a target answers from the same pixels.

These are thin adapters: read the job's params into the typed config
(:mod:`taskonomy.pipeline.config`), convert it to the recipes' plain hyperparameters, call
the recipe (:mod:`taskonomy.train.network`, :mod:`taskonomy.transfer.fit`,
:mod:`taskonomy.transfer.encode`) and write its results as artifacts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import save_file
from torch import nn

from taskonomy.data.bank import Bank
from taskonomy.errors import TaskonomyError
from taskonomy.io import atomic_write_text
from taskonomy.nn.heads import TaskModel
from taskonomy.pipeline import execution
from taskonomy.pipeline.config import DataConfig, ModelConfig, TrainParams, TransferConfig
from taskonomy.pipeline.jobs import JSON, Job, JobContext, job_kind
from taskonomy.train.network import (
    Architecture,
    FitParams,
    FittedNetwork,
    NetworkSeeds,
    evaluate,
    fit_task_network,
    network_seeds,
)
from taskonomy.train.network import task_model as _task_model
from taskonomy.train.tensors import load_labels
from taskonomy.transfer.encode import SPLITS, cached_reps, encode_split, frozen_encoder, save_cache
from taskonomy.transfer.fit import TransferParams, fit_transfers
from taskonomy.transfer.outside import file_digest, outside_encoder

BANK = "bank"


# ---------------------------------------------------------------------------- helpers


def _bank(ctx: JobContext) -> Bank:
    (data,) = ctx.deps_of_kind("data")
    return Bank(ctx.dep_dir(data) / BANK)


def _save(path: Path, module: nn.Module) -> None:
    # Written inside the job's temporary folder, which the engine commits atomically.
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(path))


def _save_npy(path: Path, arr: np.ndarray) -> None:
    # Job folders are committed atomically as a whole; a plain write inside is safe.
    np.save(path, np.ascontiguousarray(arr))


def _device_kwargs(ctx: JobContext, precision: str) -> dict[str, Any]:
    """The recipes' device settings: the run's execution settings (outside the key) plus
    the job's precision (a param). Logged, and a CUDA job records its visible GPUs."""
    settings = execution.current()
    device = settings.torch_device()
    ctx.logger.info("device %s, precision %s, channels_last %s, CUDA_VISIBLE_DEVICES=%s",
                    device, precision, settings.channels_last,
                    os.environ.get("CUDA_VISIBLE_DEVICES"))  # fmt: skip
    return {"device": device, "precision": precision, "channels_last": settings.channels_last}


# -- typed job params: each kind's params (as built by ``pipeline.run.Plan``) read back into
# the run config's models; a key added, dropped or misspelt there fails here by name.
class _JobParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataJob(DataConfig):
    seed: int
    # ``layout_fingerprint`` of a Taskonomy-layout source: a changed folder, a new key.
    fingerprint: str | None = None


class _NetworkJob(_JobParams):
    model: ModelConfig
    seed: int  # the run's seed
    precision: Literal["fp32", "bf16"] = "fp32"  # a param only when bf16 (see Plan)


class TrainJob(_NetworkJob):
    """``train`` and ``pixels`` jobs (``train``: that network's schedule)."""

    task: str
    train: TrainParams


class OutsideParams(_JobParams):
    """An outside encoder's declaration (``RunConfig.sources``) plus its weights' digest."""

    architecture: str
    weights: str
    layer: str
    mean: list[float]
    std: list[float]
    digest: str  # BLAKE2b of the weights file when the run was planned


class EncodeJob(_NetworkJob):
    source: str
    input: str  # the image key the source encoder reads (the targets' input)
    outside: OutsideParams | None = None  # only for outside encoders (keys of others unchanged)


class TransferJob(_NetworkJob):
    target: str
    sources: list[list[str]]  # one source set per transfer, all of one order
    transfer: TransferConfig


def architecture(model: ModelConfig) -> Architecture:
    """The recipes' architecture from the run's ``model`` config."""
    return Architecture(
        encoder=model.encoder,
        width=model.width,
        bottleneck_channels=model.bottleneck_channels,
        decoder_width=model.decoder_width,
        output_stride=model.output_stride,
    )


def task_model(task: str, bank: Bank, params: Mapping[str, Any], encoder: str) -> TaskModel:
    """A fresh task network from a job's params (``params["model"]``: a ``ModelConfig``);
    the recipe itself is :func:`taskonomy.train.network.task_model`."""
    return _task_model(task, bank, architecture(ModelConfig.model_validate(params["model"])),
                       encoder)  # fmt: skip


# ---------------------------------------------------------------------------- job kinds


@job_kind("data")
def run_data(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Generate the synthetic bank, or import a Taskonomy-layout folder."""
    p = DataJob.model_validate(job.params)
    out = ctx.out_dir / BANK
    if p.source == "synthetic":
        from taskonomy.data.generate import generate_bank

        fr = p.splits
        generate_bank(
            out, scenes=p.scenes, views=p.views, size=p.size, seed=p.seed,
            workers=None, progress=False,
            fractions=(fr["large"], fr["small"], fr["test"]),
        )  # fmt: skip
    else:
        from taskonomy.data.taskonomy_layout import import_taskonomy_layout

        assert p.path is not None  # DataConfig requires it for this source
        import_taskonomy_layout(
            p.path, out, z_max=p.z_max, curvature_scale=p.curvature_scale,
            on_missing=p.on_missing,
        )  # fmt: skip
    bank = Bank(out)
    return {"views": bank.n_views, "scenes": bank.n_scenes}


def network_seeds_of(job: Job) -> NetworkSeeds:
    """A ``train``/``pixels`` job's seeds: from the run's seed, its kind and its task only
    (not the job's key, which a hyperparameter change would change)."""
    p = TrainJob.model_validate(job.params)
    return network_seeds(p.seed, job.kind, p.task)


def _fit_network(job: Job, ctx: JobContext, encoder: str | None, split: str) -> FittedNetwork:
    """Train ``job``'s task with ``encoder`` on ``split``; save weights and test losses."""
    p = TrainJob.model_validate(job.params)
    cfg = p.train
    seeds = network_seeds_of(job)
    fitted = fit_task_network(
        p.task, _bank(ctx), architecture(p.model),
        FitParams(cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay),
        split=split, init_seed=seeds.init, batch_seed=seeds.batches, encoder=encoder,
        threads=ctx.threads, logger=ctx.logger, **_device_kwargs(ctx, p.precision),
    )  # fmt: skip
    _save(ctx.out_dir / "model.safetensors", fitted.model)
    _save_npy(ctx.out_dir / "test_losses.npy", fitted.losses.numpy())
    return fitted


def _summary(fitted: FittedNetwork) -> dict[str, JSON]:
    log = fitted.log
    return {
        "train_seconds": log.seconds,
        "compute_seconds": log.seconds + fitted.eval_seconds,
        "final_train_loss": log.final_loss,
        "best_step": log.best_step,
        "val_losses": list[JSON](log.val_losses),
        "test_loss": float(fitted.losses.mean()),
        "n_train": fitted.n_train,
        "n_test": int(fitted.losses.shape[0]),
    }


@job_kind("train")
def run_train(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """A task network (shared encoder family + task decoder) on the large split."""
    fitted = _fit_network(job, ctx, None, "large")
    # The sanity check's guess: the large split's loss-optimal constant, scored like the network.
    guess_losses = evaluate(fitted.model, fitted.test, guess=fitted.guess).float().cpu()
    _save_npy(ctx.out_dir / "guess_losses.npy", guess_losses.numpy())
    return {**_summary(fitted), "guess_test_loss": float(guess_losses.mean())}


@job_kind("pixels")
def run_pixels(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """The small-data scratch network of a target (the reference for Gain)."""
    return _summary(_fit_network(job, ctx, "pixels", "small"))


@job_kind("encode")
def run_encode(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Run a frozen source encoder once over every view of the small and test splits."""
    p = EncodeJob.model_validate(job.params)
    bank = _bank(ctx)
    torch.set_num_threads(ctx.threads)
    arch = architecture(p.model)
    enc: nn.Module
    if p.outside is not None:
        o = p.outside
        if file_digest(o.weights) != o.digest:  # changed between planning and now
            raise TaskonomyError(
                f"outside source {p.source!r}: {o.weights} changed after the run was planned; "
                "expected the file the run hashed. Rerun to encode the new file."
            )
        _, h, w = arch.representation_shape(bank.size[0])
        enc = outside_encoder(p.source, o.architecture, o.weights, o.layer, o.mean, o.std, (h, w))
    else:
        weights = None
        if p.source != "random":
            (train,) = ctx.deps_of_kind("train")
            weights = ctx.dep_dir(train) / "model.safetensors"
        enc = frozen_encoder(p.source, arch, bank.size[0], weights=weights, seed=p.seed)
    compute, channels = 0.0, 0
    for split in SPLITS:
        reps, views, seconds = encode_split(enc, bank, p.input, split,
                                            **_device_kwargs(ctx, p.precision))  # fmt: skip
        compute += seconds
        channels = int(reps.shape[1])
        save_cache(ctx.out_dir, split, reps, views)
    return {"channels": channels, "compute_seconds": compute}


@job_kind("transfer")
def run_transfer(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Fit readouts + fresh target decoders on cached source representations.

    One job trains every transfer of one order into one target (``params["sources"]`` is
    a list of source sets) as a single stacked network (:mod:`taskonomy.transfer.stacked`),
    or one after another (``transfer.stacked``); both give the same losses.
    """
    p = TransferJob.model_validate(job.params)
    target, source_sets, cfg = p.target, p.sources, p.transfer
    bank = _bank(ctx)
    encodes = {
        EncodeJob.model_validate(d.params).source: ctx.dep_dir(d)
        for d in ctx.deps_of_kind("encode")
    }
    used = sorted({s for srcs in source_sets for s in srcs})
    missing = [s for s in used if s not in encodes]
    if missing:
        raise TaskonomyError(f"transfers into {target}: no cached encoder for {missing}")
    # Each source's cache and the labels are read once, then shared by every source set.
    reps = {
        split: {s: cached_reps(bank, target, split, encodes[s]) for s in used} for split in SPLITS
    }
    labels = {split: load_labels(bank, target, split) for split in SPLITS}
    fitted = fit_transfers(
        target, source_sets, reps, labels, bank, architecture(p.model),
        TransferParams(cfg.steps, cfg.batch_size, cfg.lr, cfg.stacked),
        seed=p.seed, threads=ctx.threads, logger=ctx.logger, **_device_kwargs(ctx, p.precision),
    )  # fmt: skip
    for stem, module in fitted.modules.items():
        _save(ctx.out_dir / f"{stem}.safetensors", module)
    _save_npy(ctx.out_dir / "test_losses.npy", fitted.losses.numpy())
    atomic_write_text(ctx.out_dir / "transfers.json", json.dumps(source_sets) + "\n")
    return {
        "train_seconds": fitted.train_seconds,
        "compute_seconds": fitted.compute_seconds,
        "transfers": len(source_sets),
        "best_steps": list[JSON](fitted.best_steps),
        "test_loss": [float(x) for x in fitted.losses.mean(1)],
    }

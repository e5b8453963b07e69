"""The learning pipeline's job kinds: data, train, pixels, encode, transfer.

Every job reads only its dependencies' artifacts and writes into its own folder:

==========  ===========================================================================
kind        artifacts
==========  ===========================================================================
data        ``bank/`` (the image bank: synthetic, or imported from a Taskonomy layout)
train       ``model.safetensors``; ``test_losses.npy`` (N_test,) of the network (the
            target's ``self``); ``guess_losses.npy`` (N_test,) of the mean-label guess
pixels      ``model.safetensors``; ``test_losses.npy``: small-data scratch network
encode      ``small.npy``/``test.npy`` (N, C, h, w) float32 representations of every view
            of the split, ``small_views.npy``/``test_views.npy`` their global view ids
transfer    ``readout.safetensors``; ``test_losses.npy`` (N_test,) of the target
==========  ===========================================================================

Frozen source encoders always see the *target's* input image (``TaskSpec.input``, RGB for
almost every target), so every transfer into a target answers from the same pixels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from taskonomy.data.bank import Bank
from taskonomy.errors import TaskonomyError
from taskonomy.io import atomic_write_text
from taskonomy.nn.decoders import DECODERS, is_dense
from taskonomy.nn.encoders import source_encoder
from taskonomy.nn.heads import TaskModel
from taskonomy.nn.losses import class_weights_from_counts
from taskonomy.nn.readout import TransferReadout, build_transfer
from taskonomy.pipeline.jobs import JSON, Job, JobContext, job_kind
from taskonomy.pipeline.tensors import MASK, load_labels, load_task_split, sample_views, sizes_of
from taskonomy.tasks import get_task
from taskonomy.train.loop import fit, per_image
from taskonomy.transfer.stacked import StackedTransfers

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


def loss_kwargs(task: str, bank: Bank) -> dict[str, Any]:
    """Loss options computed from the large split (class weights for rebalanced CE)."""
    spec = get_task(task)
    if spec.head is None or spec.head.loss != "rebalanced_ce":
        return {}
    labels = bank.get(task, bank.split_views("large"))  # (N, H, W) class ids
    k = int(spec.head.resolve_channels(sizes_of(bank)))
    counts = torch.bincount(torch.from_numpy(labels.reshape(-1).astype(np.int64)), minlength=k)
    return {"class_weights": class_weights_from_counts(counts[:k])}


def decoder_width(model_cfg: Mapping[str, Any]) -> int:
    """``model.decoder_width``, or the encoder's ``width`` when unset."""
    return int(model_cfg.get("decoder_width") or model_cfg["width"])


def task_model(task: str, bank: Bank, params: Mapping[str, Any], encoder: str) -> TaskModel:
    model_cfg = params["model"]
    return TaskModel(
        task,
        encoder=encoder,
        image_size=bank.size[0],
        sizes=sizes_of(bank),
        bottleneck_channels=model_cfg["bottleneck_channels"],
        encoder_width=model_cfg["width"],
        decoder_width=decoder_width(model_cfg),
        loss_kwargs=loss_kwargs(task, bank),
    )


def holdout(
    bank: Bank, task: str, data: dict[str, Tensor], split: str, fraction: float = 0.15
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Split a training split's samples by scene into (train, validation) for early stopping."""
    views, _ = sample_views(bank, task, split)
    scene = bank.scene_of_view(views if views.ndim == 1 else views[:, 0])  # (N,)
    scenes = np.unique(scene)
    n_val = max(1, round(fraction * len(scenes))) if len(scenes) > 1 else 0
    is_val = torch.from_numpy(np.isin(scene, scenes[len(scenes) - n_val :]))
    return ({k: v[~is_val] for k, v in data.items()}, {k: v[is_val] for k, v in data.items()})


@dataclass
class _Fitted:
    losses: Tensor  # (N_test,) per-image test losses
    summary: dict[str, JSON]
    guess: Tensor  # the mean-label guess of the training split (the network's start)
    test: dict[str, Tensor]  # the test split, loaded once


def _train_and_eval(
    model: TaskModel,
    bank: Bank,
    task: str,
    split: str,
    cfg: Mapping[str, Any],
    seed: int,
    ctx: JobContext,
) -> _Fitted:
    torch.set_num_threads(ctx.threads)
    data = load_task_split(bank, task, split)
    guess = mean_label_guess(task, data, sizes_of(bank))
    model.head.start_from_guess(guess)  # every network starts at its labels' guess
    train, val = holdout(bank, task, data, split)
    log = fit(
        model,
        lambda b: model.loss(model(b), b),
        train,
        steps=cfg["steps"],
        batch_size=cfg["batch_size"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=seed,
        log_every=max(1, cfg["steps"] // 10),
        val=val if next(iter(val.values())).shape[0] else None,
    )
    test = load_task_split(bank, task, "test")
    t0 = time.perf_counter()
    losses = per_image(lambda b: model.loss(model(b), b), test)  # (N_test,)
    eval_seconds = time.perf_counter() - t0
    ctx.logger.info(
        "%s: %d steps in %.1fs, final loss %.4f, kept step %d", task, log.steps, log.seconds,
        log.final_loss, log.best_step,
    )  # fmt: skip
    summary: dict[str, JSON] = {
        "train_seconds": log.seconds,
        "compute_seconds": log.seconds + eval_seconds,
        "final_train_loss": log.final_loss,
        "best_step": log.best_step,
        "val_losses": list[JSON](log.val_losses),
        "test_loss": float(losses.mean()),
        "n_train": int(next(iter(train.values())).shape[0]),
        "n_test": int(losses.shape[0]),
    }
    return _Fitted(losses, summary, guess, test)


def mean_label_guess(task: str, lab: Mapping[str, Tensor], sizes: dict[str, int]) -> Tensor:
    """The statistically informed guess in the head's output space, from loaded labels
    (``lab``: the task's label and, for masked tasks, the validity mask).

    Regression heads predict the mean label (per pixel, over valid pixels); classifier
    heads predict the log of the mean class distribution; embedding heads a constant.
    """
    spec = get_task(task)
    assert spec.head is not None and spec.label is not None
    y = lab[task]
    kind = spec.head.decoder
    if kind in ("dense", "vector"):
        y = y.float()
        if MASK in lab:
            m = lab[MASK].float()  # (N, 1, H, W)
            return (y * m).sum(0) / m.sum(0).clamp(min=1)  # (C, H, W)
        return y.mean(0)
    k = int(spec.head.resolve_channels(sizes))
    if kind == "embedding":
        return torch.zeros(k, *y.shape[1:])  # (D, H, W)
    if y.is_floating_point():  # soft labels (N, K)
        freq = y.float().mean(0)
    else:
        freq = torch.bincount(y.reshape(-1).long(), minlength=k)[:k].float()
        freq = freq / freq.sum()
    logits = torch.log(freq + 1e-6)  # (K,)
    if kind == "segment_dense":
        return logits[:, None, None].expand(k, *y.shape[1:])  # (K, H, W)
    return logits


# ---------------------------------------------------------------------------- job kinds


@job_kind("data")
def run_data(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Generate the synthetic bank, or import a Taskonomy-layout folder."""
    p: dict[str, Any] = dict(job.params)
    out = ctx.out_dir / BANK
    if p["source"] == "synthetic":
        from taskonomy.data.generate import generate_bank

        fr = p["splits"]
        generate_bank(
            out, scenes=p["scenes"], views=p["views"], size=p["size"], seed=p["seed"],
            workers=None, progress=False,
            fractions=(fr["large"], fr["small"], fr["test"]),
        )  # fmt: skip
    else:
        from taskonomy.data.taskonomy_layout import import_taskonomy_layout

        import_taskonomy_layout(
            p["path"], out, z_max=p.get("z_max"), curvature_scale=p.get("curvature_scale"),
            on_missing=p.get("on_missing", "error"),
        )  # fmt: skip
    bank = Bank(out)
    return {"views": bank.n_views, "scenes": bank.n_scenes}


def _fit_network(job: Job, ctx: JobContext, encoder: str, split: str) -> tuple[TaskModel, _Fitted]:
    """Train ``job``'s task with ``encoder`` on ``split``; save weights and test losses."""
    p: dict[str, Any] = dict(job.params)
    bank = _bank(ctx)
    torch.manual_seed(job.seed)
    model = task_model(p["task"], bank, p, encoder)
    fitted = _train_and_eval(model, bank, p["task"], split, p["train"], job.seed, ctx)
    _save(ctx.out_dir / "model.safetensors", model)
    _save_npy(ctx.out_dir / "test_losses.npy", fitted.losses.numpy())
    return model, fitted


@job_kind("train")
def run_train(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """A task network (shared encoder family + task decoder) on the large split."""
    p: dict[str, Any] = dict(job.params)
    task = p["task"]
    model, fitted = _fit_network(job, ctx, p["model"]["encoder"], "large")
    guess = fitted.guess  # the sanity check's guess: the large split's mean label
    guess_losses = per_image(
        lambda b: model.loss(guess.expand(b[task].shape[0], *guess.shape), b), fitted.test
    )
    _save_npy(ctx.out_dir / "guess_losses.npy", guess_losses.numpy())
    fitted.summary["guess_test_loss"] = float(guess_losses.mean())
    return fitted.summary


@job_kind("pixels")
def run_pixels(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """The small-data scratch network of a target (the reference for Gain)."""
    return _fit_network(job, ctx, "pixels", "small")[1].summary


def _frozen_encoder(source: str, bank: Bank, p: Mapping[str, Any], ctx: JobContext) -> nn.Module:
    model_cfg = p["model"]
    if source == "random":
        torch.manual_seed(p["seed"])
        return source_encoder(
            "random", model_cfg["encoder"], 1, bank.size[0], model_cfg["bottleneck_channels"],
            model_cfg["width"],
        )  # fmt: skip
    (train,) = ctx.deps_of_kind("train")
    # Only the encoder: building the whole task model would also compute its loss options
    # (class weights read from every large-split label) just to load and drop them.
    # A multi-view task's tower encodes one view; transfers concatenate views themselves.
    enc = source_encoder(
        source, model_cfg["encoder"], 1, bank.size[0], model_cfg["bottleneck_channels"],
        model_cfg["width"],
    )  # fmt: skip
    prefix = "encoder.encoder." if get_task(source).views > 1 else "encoder."  # TaskModel keys
    state = load_file(str(ctx.dep_dir(train) / "model.safetensors"))
    enc.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return enc


@job_kind("encode")
def run_encode(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Run a frozen source encoder once over every view of the small and test splits."""
    p: dict[str, Any] = dict(job.params)
    bank = _bank(ctx)
    torch.set_num_threads(ctx.threads)
    enc = _frozen_encoder(p["source"], bank, p, ctx).eval()
    compute = 0.0
    for split in ("small", "test"):
        views = bank.split_views(split)
        images = torch.from_numpy(np.ascontiguousarray(bank.get(p["input"], views)))
        t0 = time.perf_counter()
        reps = per_image(lambda b: enc(b["x"]), {"x": images})  # (N, C, h, w)
        compute += time.perf_counter() - t0
        _save_npy(ctx.out_dir / f"{split}.npy", reps.numpy().astype(np.float32))
        _save_npy(ctx.out_dir / f"{split}_views.npy", views)
    return {"channels": int(reps.shape[1]), "compute_seconds": compute}


def cached_reps(bank: Bank, target: str, split: str, folder: Path) -> Tensor:
    """One source's cached representation of a target's samples: (N, views·C, h, w)."""
    views, _ = sample_views(bank, target, split)  # (N,) or (N, k)
    cached = np.load(folder / f"{split}.npy", mmap_mode="r")  # (V, C, h, w)
    order = np.load(folder / f"{split}_views.npy")
    rows = np.searchsorted(order, views)  # same shape as views
    rep = np.asarray(cached[rows.reshape(-1)])  # (N·k, C, h, w)
    return torch.from_numpy(rep.reshape(views.shape[0], -1, *rep.shape[2:]))


def build_readouts(
    target: str,
    source_sets: Sequence[Sequence[str]],
    channels: int,
    bank: Bank,
    p: Mapping[str, Any],
    seeds: Sequence[int],
    guess: Tensor,
) -> list[TransferReadout]:
    """One freshly initialized readout + target decoder per source set (seeded each), each
    starting at ``guess`` (the small split's: transfers see only that split)."""
    out = []
    kwargs = loss_kwargs(target, bank)
    for srcs, seed in zip(source_sets, seeds, strict=True):
        torch.manual_seed(seed)
        ro = build_transfer(
            target, len(srcs), bank.size[0], sizes_of(bank), p["model"]["bottleneck_channels"],
            source_channels=channels, decoder_width=decoder_width(p["model"]), loss_kwargs=kwargs,
        )  # fmt: skip
        ro.start_from_guess(guess)
        out.append(ro)
    return out


def derived_seed(seed: int, *names: str) -> int:
    """A seed for one transfer (or target) from the run's seed and names, whatever the job."""
    words = [seed, *(ord(ch) for ch in "|".join(names))]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def use_stacked(mode: str, target: str, image_size: int) -> bool:
    """Whether to train a group of transfers stacked (see ``TransferConfig.stacked``)."""
    if mode != "auto":
        return mode == "always"
    head = get_task(target).head
    if head is None or not is_dense(head.decoder):
        return True
    # Dense regression maps (1-3 channels) gain up to 64² (measured at 32² and 64²);
    # many-channel maps (class logits, embeddings) do not: grouped kernels lose to plain
    # ones on the full-resolution output (bench_transfer.py).
    return DECODERS.canonical(head.decoder) == "dense" and image_size <= 64


@job_kind("transfer")
def run_transfer(job: Job, ctx: JobContext) -> dict[str, JSON]:
    """Fit readouts + fresh target decoders on cached source representations.

    One job trains every transfer of one order into one target (``params["sources"]`` is
    a list of source sets) as a single stacked network (:mod:`taskonomy.transfer.stacked`),
    or one after another (``transfer.stacked``); both give the same losses.
    """
    p: dict[str, Any] = dict(job.params)
    target, source_sets = p["target"], [list(s) for s in p["sources"]]
    bank = _bank(ctx)
    torch.set_num_threads(ctx.threads)
    encodes = {d.params["source"]: ctx.dep_dir(d) for d in ctx.deps_of_kind("encode")}
    used = sorted({s for srcs in source_sets for s in srcs})
    missing = [s for s in used if s not in encodes]
    if missing:
        raise TaskonomyError(f"transfers into {target}: no cached encoder for {missing}")
    # Each source's cache and the labels are read once, then shared by every source set.
    reps = {
        split: {s: cached_reps(bank, target, split, encodes[s]) for s in used}
        for split in ("small", "test")
    }
    small_reps = [torch.cat([reps["small"][s] for s in srcs], dim=1) for srcs in source_sets]
    test_reps = [torch.cat([reps["test"][s] for s in srcs], dim=1) for srcs in source_sets]
    small_y = load_labels(bank, target, "small")
    test_y = load_labels(bank, target, "test")
    channels = int(small_reps[0].shape[1])
    seeds = [derived_seed(p["seed"], target, *srcs) for srcs in source_sets]
    guess = mean_label_guess(target, small_y, sizes_of(bank))
    readouts = build_readouts(target, source_sets, channels, bank, p, seeds, guess)
    cfg = p["transfer"]
    # Same minibatch order for every transfer into the target, stacked or not; each
    # transfer keeps its own best step on held-out scenes of the small split.
    hp: dict[str, Any] = {
        "steps": cfg["steps"], "batch_size": cfg["batch_size"], "lr": cfg["lr"],
        "seed": derived_seed(p["seed"], target), "log_every": max(1, cfg["steps"] // 10),
    }  # fmt: skip
    train, val = holdout(bank, target, {**small_y, "reps": torch.cat(small_reps, dim=1)}, "small")
    n_val = int(val["reps"].shape[0])
    t0 = time.perf_counter()
    if use_stacked(cfg["stacked"], target, bank.size[0]):
        model = StackedTransfers(readouts)
        test = {**test_y, "reps": torch.cat(test_reps, dim=1)}  # (N, M·C, h, w)
        log = fit(model, lambda b: model.per_model_loss(model(b["reps"]), b).T, train,
                  val=val if n_val else None, models=len(readouts), **hp)  # fmt: skip
        losses = per_image(
            lambda b: model.per_model_loss(model(b["reps"]), b).T, test
        ).T  # (M, N_test)
        seconds, best_steps = log.seconds, log.best_steps
        _save(ctx.out_dir / "readouts.safetensors", model)
    else:
        rows: list[Tensor] = []
        seconds, best_steps = 0.0, []
        for i, ro in enumerate(readouts):

            def step_loss(b: dict[str, Tensor], ro: TransferReadout = ro) -> Tensor:
                return ro.loss(ro(b["reps"]), b)

            block = slice(i * channels, (i + 1) * channels)
            own_val = {**val, "reps": val["reps"][:, block]} if n_val else None
            log = fit(ro, step_loss, {**train, "reps": train["reps"][:, block]}, val=own_val, **hp)
            seconds += log.seconds
            best_steps.append(log.best_step)
            rows.append(per_image(step_loss, {**test_y, "reps": test_reps[i]}))
            _save(ctx.out_dir / f"readout{i}.safetensors", ro)
        losses = torch.stack(rows)  # (M, N_test)
    compute = time.perf_counter() - t0
    _save_npy(ctx.out_dir / "test_losses.npy", losses.numpy())
    atomic_write_text(ctx.out_dir / "transfers.json", json.dumps(source_sets) + "\n")
    return {
        "train_seconds": seconds,
        "compute_seconds": compute,
        "transfers": len(source_sets),
        "best_steps": list[JSON](best_steps),
        "test_loss": [float(x) for x in losses.mean(1)],
    }

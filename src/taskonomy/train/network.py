"""Fitting and evaluating one task network: the recipe behind ``train`` and ``pixels`` jobs.

Plain arguments only (a bank, typed hyperparameters, seeds, a thread count, a device):
the pipeline's job adapters read their params into these and write the artifacts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from taskonomy.data.bank import Bank
from taskonomy.nn.encoders import representation_shape
from taskonomy.nn.heads import TaskModel
from taskonomy.nn.losses import class_weights_from_counts
from taskonomy.seeds import derived_seed
from taskonomy.tasks import get_task
from taskonomy.train.constant import optimal_constant
from taskonomy.train.device import module_device, place, to_channels_last
from taskonomy.train.loop import TrainLog, fit, per_image
from taskonomy.train.tensors import CPU, load_task_split, sample_views, sizes_of

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Architecture:
    """The encoder family and widths shared by task networks and transfer decoders."""

    encoder: str = "small_resnet"
    width: int = 32  # small_resnet's base width
    bottleneck_channels: int = 8
    decoder_width: int | None = None  # the decoders' widest layer; None: ``width``
    output_stride: int = 16  # the representation grid is the image size / this

    @property
    def decoder_channels(self) -> int:
        """``decoder_width``, or the encoder's ``width`` when unset."""
        return int(self.decoder_width or self.width)

    def representation_shape(self, image_size: int) -> tuple[int, int, int]:
        """(C_rep, h, w) of one view through this family's encoder at ``image_size``²: the
        grid every source's representation (outside encoders' included) is brought to."""
        return representation_shape(image_size, self.bottleneck_channels, 1, self.output_stride)


@dataclass(frozen=True)
class FitParams:
    """Optimizer schedule of one network fit (AdamW, warm-up + cosine, early stopping)."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0

    @property
    def log_every(self) -> int:
        """Loss logging and validation period: ten checks per fit."""
        return max(1, self.steps // 10)


def loss_kwargs(task: str, bank: Bank) -> dict[str, Any]:
    """Loss options computed from the large split (class weights for rebalanced CE)."""
    spec = get_task(task)
    if spec.head is None or spec.head.loss != "rebalanced_ce":
        return {}
    labels = bank.get(task, bank.split_views("large"))  # (N, H, W) class ids
    k = int(spec.head.resolve_channels(sizes_of(bank)))
    counts = torch.bincount(torch.from_numpy(labels.reshape(-1).astype(np.int64)), minlength=k)
    return {"class_weights": class_weights_from_counts(counts[:k])}


def task_model(task: str, bank: Bank, arch: Architecture, encoder: str | None = None) -> TaskModel:
    """A fresh task network (weights from torch's global RNG); ``encoder`` overrides
    ``arch.encoder`` (``"pixels"``: the small-data scratch network)."""
    return TaskModel(
        task,
        encoder=encoder or arch.encoder,
        image_size=bank.size[0],
        sizes=sizes_of(bank),
        bottleneck_channels=arch.bottleneck_channels,
        encoder_width=arch.width,
        decoder_width=arch.decoder_channels,
        loss_kwargs=loss_kwargs(task, bank),
        output_stride=arch.output_stride,
    )


@dataclass(frozen=True)
class NetworkSeeds:
    init: int  # initial weights
    batches: int  # minibatch order


def network_seeds(seed: int, role: str, task: str) -> NetworkSeeds:
    """Seeds of ``task``'s network of ``role`` ("train", "pixels") from the run's seed:
    independent of every hyperparameter (:mod:`taskonomy.seeds`)."""
    return NetworkSeeds(derived_seed(seed, f"{role}-init", task),
                        derived_seed(seed, f"{role}-batches", task))  # fmt: skip


def init_task_network(
    task: str, bank: Bank, arch: Architecture, init_seed: int, encoder: str | None = None
) -> TaskModel:
    """A fresh task network drawn from ``init_seed``, leaving the global RNG as it was."""
    # Torch layers initialize from the global RNG; fork it so that building a network
    # neither depends on nor disturbs the caller's RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return task_model(task, bank, arch, encoder)


def holdout(
    bank: Bank, task: str, data: Mapping[str, Tensor], split: str, fraction: float = 0.15
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Split a training split's samples by scene into (train, validation) for early stopping."""
    views, _ = sample_views(bank, task, split)
    scene = bank.scene_of_view(views if views.ndim == 1 else views[:, 0])  # (N,)
    scenes = np.unique(scene)
    n_val = max(1, round(fraction * len(scenes))) if len(scenes) > 1 else 0
    is_val = torch.from_numpy(np.isin(scene, scenes[len(scenes) - n_val :]))
    return ({k: v[~is_val] for k, v in data.items()}, {k: v[is_val] for k, v in data.items()})


# The loss-optimal constant (median under L1, mean under L2, class prior under CE, ...):
# the old name stays as an alias for the transfer recipe and other callers.
mean_label_guess = optimal_constant


def evaluate(
    model: TaskModel,
    data: Mapping[str, Tensor],
    guess: Tensor | None = None,
    precision: str = "fp32",
) -> Tensor:
    """Per-image losses (N,) of ``model`` on ``data`` (on the model's device), or, with
    ``guess``, of that constant prediction scored by the model's loss (the sanity check's
    reference, always in float32)."""
    device = module_device(model)
    if guess is None:
        return per_image(lambda b: model.loss(model(b), b), data, device=device,
                         precision=precision)  # fmt: skip
    task = model.spec.name
    guess = guess.to(device)
    return per_image(lambda b: model.loss(guess.expand(b[task].shape[0], *guess.shape), b), data,
                     device=device)  # fmt: skip


@dataclass
class FittedNetwork:
    """A trained task network and its measurements on the test split."""

    model: TaskModel
    losses: Tensor  # (N_test,) per-image test losses, on the CPU
    guess: Tensor  # the training split's loss-optimal constant (the network's start)
    test: dict[str, Tensor]  # the test split, loaded once
    log: TrainLog
    eval_seconds: float
    n_train: int


def fit_task_network(
    task: str,
    bank: Bank,
    arch: Architecture,
    params: FitParams,
    *,
    split: str,
    init_seed: int,
    batch_seed: int,
    encoder: str | None = None,
    threads: int = 1,
    device: torch.device = CPU,
    precision: str = "fp32",
    channels_last: bool = False,
    logger: logging.Logger | None = None,
) -> FittedNetwork:
    """Train ``task``'s network (``encoder``, default ``arch.encoder``) on ``split``, early
    stopping on held-out scenes of it, and measure per-image losses on the test split.

    ``init_seed`` draws the initial weights, ``batch_seed`` the minibatch order (derive
    them with :func:`network_seeds`). ``device``: where it trains (the weights are
    drawn on the CPU first, so a seed gives the same start everywhere); ``precision``
    "bf16": autocast; ``channels_last``: NHWC weights (faster convolutions on a GPU).
    """
    log_to = logger or _LOG
    model = init_task_network(task, bank, arch, init_seed, encoder)
    torch.set_num_threads(threads)
    data = load_task_split(bank, task, split)
    guess = optimal_constant(task, data, sizes_of(bank))
    model.head.start_from_guess(guess)  # every network starts at its labels' guess
    to_channels_last(model.to(device), channels_last)
    train, val = holdout(bank, task, data, split)
    train, val = place(train, device), place(val, device)
    log = fit(
        model,
        lambda b: model.loss(model(b), b),
        train,
        steps=params.steps,
        batch_size=params.batch_size,
        lr=params.lr,
        weight_decay=params.weight_decay,
        seed=batch_seed,
        log_every=params.log_every,
        val=val if next(iter(val.values())).shape[0] else None,
        precision=precision,
    )
    test = place(load_task_split(bank, task, "test"), device)
    t0 = time.perf_counter()
    losses = evaluate(model, test, precision=precision).float().cpu()  # (N_test,)
    eval_seconds = time.perf_counter() - t0
    log_to.info(
        "%s: %d steps in %.1fs, final loss %.4f, kept step %d", task, log.steps, log.seconds,
        log.final_loss, log.best_step,
    )  # fmt: skip
    n_train = int(next(iter(train.values())).shape[0])
    return FittedNetwork(model, losses, guess, test, log, eval_seconds, n_train)

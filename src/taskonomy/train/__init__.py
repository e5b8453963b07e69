"""Training: one readable loop shared by task networks, transfers and baselines, and the
recipe that fits and evaluates a task network (:mod:`taskonomy.train.network`)."""

from taskonomy.train.loop import TrainLog, batches, fit, per_image
from taskonomy.train.network import (
    Architecture,
    FitParams,
    FittedNetwork,
    NetworkSeeds,
    evaluate,
    fit_task_network,
    holdout,
    init_task_network,
    loss_kwargs,
    mean_label_guess,
    network_seeds,
    task_model,
)

__all__ = [
    "Architecture",
    "FitParams",
    "FittedNetwork",
    "NetworkSeeds",
    "TrainLog",
    "batches",
    "evaluate",
    "fit",
    "fit_task_network",
    "holdout",
    "init_task_network",
    "loss_kwargs",
    "mean_label_guess",
    "network_seeds",
    "per_image",
    "task_model",
]

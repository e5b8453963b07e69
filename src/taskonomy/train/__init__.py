"""Training: one readable loop shared by task networks, transfers and baselines, and the
recipe that fits and evaluates a task network (:mod:`taskonomy.train.network`)."""

from taskonomy.train.loop import TrainLog, batches, fit, per_image
from taskonomy.train.network import (
    Architecture,
    FitParams,
    FittedNetwork,
    evaluate,
    fit_task_network,
    holdout,
    loss_kwargs,
    mean_label_guess,
    task_model,
)

__all__ = [
    "Architecture",
    "FitParams",
    "FittedNetwork",
    "TrainLog",
    "batches",
    "evaluate",
    "fit",
    "fit_task_network",
    "holdout",
    "loss_kwargs",
    "mean_label_guess",
    "per_image",
    "task_model",
]

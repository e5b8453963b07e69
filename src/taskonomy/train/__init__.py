"""Training: one readable loop shared by task networks, transfers and baselines."""

from taskonomy.train.loop import TrainLog, batches, fit, per_image

__all__ = ["TrainLog", "batches", "fit", "per_image"]

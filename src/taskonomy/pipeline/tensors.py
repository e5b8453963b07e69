"""Moved to :mod:`taskonomy.train.tensors` (the recipes below the pipeline read samples
there); re-exported for code written against the old location."""

from taskonomy.train.tensors import (
    MASK,
    load_images,
    load_labels,
    load_task_split,
    sample_views,
    sizes_of,
)

__all__ = ["MASK", "load_images", "load_labels", "load_task_split", "sample_views", "sizes_of"]

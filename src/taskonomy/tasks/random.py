"""random (2018: ``random``): none: an untrained encoder with random weights."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import TaskSpec

RANDOM = register_task(
    TaskSpec(
        name="random",
        name_2018="random",
        family="baseline",
        order=26,
        views=1,
        output="none: an untrained encoder with random weights",
        loss="–",
        role="source_only",
        label=None,
        input="rgb",
        notes="Source-only baseline.",
    )
)

"""egomotion (2018: ``ego_motion``): relative poses within a triplet of views (1→2, 2→3, 1→3)."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

EGOMOTION = register_task(
    TaskSpec(
        name="egomotion",
        name_2018="ego_motion",
        family="geometric",
        order=21,
        views=3,
        output="relative poses within a triplet of views (1→2, 2→3, 1→3)",
        loss="sum of pose L2 norms",
        role="task",
        label=LabelSpec(shape=(3, 6), dtype="float32", low=None, high=None, masked=False),
        input="rgb",
        head=HeadSpec(decoder="vector", channels=18, loss="pose_l2", metric="pose_l2"),
        layout=LayoutSpec("tuples", released=False),
        notes="",
    )
)

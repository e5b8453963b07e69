"""nonfixated_pose (2018: ``non_fixated_pose``): 6-DoF relative pose of two overlapping views."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

NONFIXATED_POSE = register_task(
    TaskSpec(
        name="nonfixated_pose",
        name_2018="non_fixated_pose",
        family="geometric",
        order=19,
        views=2,
        output="6-DoF relative pose of two overlapping views",
        loss="L2 norm",
        role="task",
        label=LabelSpec(shape=(6,), dtype="float32", low=None, high=None, masked=False),
        input="rgb",
        head=HeadSpec(decoder="vector", channels=6, loss="pose_l2", metric="pose_l2"),
        layout=LayoutSpec("tuples", released=False),
        notes="",
    )
)

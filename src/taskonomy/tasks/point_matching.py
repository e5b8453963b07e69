"""point_matching (2018: ``point_match``): whether two patches centre on the same 3D point."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

POINT_MATCHING = register_task(
    TaskSpec(
        name="point_matching",
        name_2018="point_match",
        family="geometric",
        order=20,
        views=2,
        output="whether two patches centre on the same 3D point",
        loss="CE",
        role="task",
        label=LabelSpec(shape=(), dtype="int64", low=0, high=1, masked=False),
        input="rgb",
        head=HeadSpec(decoder="classify", channels=2, loss="ce", metric="accuracy"),
        layout=LayoutSpec("tuples", released=False),
        notes="",
    )
)

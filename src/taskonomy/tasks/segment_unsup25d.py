"""segment_unsup25d (2018: ``segment25d``):

H×W segment ids from clustering depth, normals and curvature.
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

SEGMENT_UNSUP25D = register_task(
    TaskSpec(
        name="segment_unsup25d",
        name_2018="segment25d",
        family="3D",
        order=14,
        views=1,
        output="H×W segment ids from clustering depth, normals and curvature",
        loss="pairwise metric loss",
        role="task",
        label=LabelSpec(shape=("H", "W"), dtype="int64", low=0, high=None, masked=False),
        input="rgb",
        head=HeadSpec(
            decoder="embedding", channels=8, loss="pairwise_metric", metric="pair_accuracy"
        ),
        layout=LayoutSpec("ids"),
        notes="",
    )
)

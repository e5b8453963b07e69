"""segment_unsup2d (2018: ``segment2d``): H×W segment ids from an unsupervised RGB segmentation."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

SEGMENT_UNSUP2D = register_task(
    TaskSpec(
        name="segment_unsup2d",
        name_2018="segment2d",
        family="2D",
        order=6,
        views=1,
        output="H×W segment ids from an unsupervised RGB segmentation",
        loss="pairwise metric loss on sampled pixels",
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

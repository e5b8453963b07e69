"""segment_semantic (2018: ``segmentsemantic_rb``):

H×W class ids (room surfaces + object classes).
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

SEGMENT_SEMANTIC = register_task(
    TaskSpec(
        name="segment_semantic",
        name_2018="segmentsemantic_rb",
        family="semantic",
        order=22,
        views=1,
        output="H×W class ids (room surfaces + object classes)",
        loss="CE, class-rebalanced",
        role="task",
        label=LabelSpec(shape=("H", "W"), dtype="int64", low=0, high=None, masked=False),
        input="rgb",
        head=HeadSpec(
            decoder="segment_dense",
            channels="n_semantic_classes",
            loss="rebalanced_ce",
            metric="accuracy",
        ),
        layout=LayoutSpec("ids", domain="segmentsemantic"),
        notes="",
    )
)

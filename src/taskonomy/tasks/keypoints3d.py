"""keypoints3d (2018: ``keypoint3d``): H×W×1 interest-point response of the 3D geometry."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

KEYPOINTS3D = register_task(
    TaskSpec(
        name="keypoints3d",
        name_2018="keypoint3d",
        family="3D",
        order=13,
        views=1,
        output="H×W×1 interest-point response of the 3D geometry",
        loss="L1, masked",
        role="task",
        label=LabelSpec(shape=(1, "H", "W"), dtype="float32", low=0, high=1, masked=True),
        input="rgb",
        head=HeadSpec(
            decoder="dense", channels=1, loss="masked_l1", metric="mae", activation="sigmoid"
        ),
        layout=LayoutSpec("unit16"),
        notes="",
    )
)

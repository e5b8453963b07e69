"""keypoints2d (2018: ``keypoint2d``): H×W×1 interest-point response of the RGB image."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

KEYPOINTS2D = register_task(
    TaskSpec(
        name="keypoints2d",
        name_2018="keypoint2d",
        family="2D",
        order=5,
        views=1,
        output="H×W×1 interest-point response of the RGB image",
        loss="L1",
        role="task",
        label=LabelSpec(shape=(1, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb",
        head=HeadSpec(decoder="dense", channels=1, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("unit16"),
        notes="",
    )
)

"""normal (2018: ``rgb2sfnorm``): H×W×3 surface normals in the camera frame."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

NORMAL = register_task(
    TaskSpec(
        name="normal",
        name_2018="rgb2sfnorm",
        family="3D",
        order=9,
        views=1,
        output="H×W×3 surface normals in the camera frame",
        loss="L1, masked",
        role="task",
        label=LabelSpec(shape=(3, "H", "W"), dtype="float32", low=-1, high=1, masked=True),
        input="rgb",
        head=HeadSpec(
            decoder="dense", channels=3, loss="masked_l1", metric="angular_error", activation="tanh"
        ),
        layout=LayoutSpec("normal8"),
        notes="Unit vectors, camera frame (x right, y down, z forward).",
    )
)

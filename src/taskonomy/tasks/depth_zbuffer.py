"""depth_zbuffer (2018: ``rgb2depth``): H×W×1 z-depth, log-scaled."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

DEPTH_ZBUFFER = register_task(
    TaskSpec(
        name="depth_zbuffer",
        name_2018="rgb2depth",
        family="3D",
        order=7,
        views=1,
        output="H×W×1 z-depth, log-scaled",
        loss="L1, masked",
        role="task",
        label=LabelSpec(shape=(1, "H", "W"), dtype="float32", low=0, high=1, masked=True),
        input="rgb",
        head=HeadSpec(
            decoder="dense", channels=1, loss="masked_l1", metric="mae", activation="sigmoid"
        ),
        layout=LayoutSpec("depth16"),
        notes="Stored as log(1 + z) / log(1 + z_max), in [0, 1].",
    )
)

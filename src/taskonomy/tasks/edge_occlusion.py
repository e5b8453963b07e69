"""edge_occlusion (2018: ``edge3d``): H×W×1 occlusion (depth-discontinuity) edges, blurred."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

EDGE_OCCLUSION = register_task(
    TaskSpec(
        name="edge_occlusion",
        name_2018="edge3d",
        family="3D",
        order=12,
        views=1,
        output="H×W×1 occlusion (depth-discontinuity) edges, blurred",
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

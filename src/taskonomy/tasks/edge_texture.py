"""edge_texture (2018: ``edge2d``): H×W×1 edge strength of the RGB image (no NMS)."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

EDGE_TEXTURE = register_task(
    TaskSpec(
        name="edge_texture",
        name_2018="edge2d",
        family="2D",
        order=4,
        views=1,
        output="H×W×1 edge strength of the RGB image (no NMS)",
        loss="L1",
        role="task",
        label=LabelSpec(shape=(1, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb",
        head=HeadSpec(decoder="dense", channels=1, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("unit16"),
        notes="",
    )
)

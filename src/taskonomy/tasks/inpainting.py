"""inpainting (2018: ``impainting_whole``): H×W×3 image (centre masked)."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

INPAINTING = register_task(
    TaskSpec(
        name="inpainting",
        name_2018="impainting_whole",
        family="2D",
        order=3,
        views=1,
        output="H×W×3 image (centre masked)",
        loss="L1",
        role="source_only",
        label=LabelSpec(shape=(3, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb_masked",
        head=HeadSpec(decoder="dense", channels=3, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("rgb_label"),
        notes="",
    )
)

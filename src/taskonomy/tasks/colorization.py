"""colorization (2018: ``colorization``): H×W×3 image (input gray)."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

COLORIZATION = register_task(
    TaskSpec(
        name="colorization",
        name_2018="colorization",
        family="2D",
        order=2,
        views=1,
        output="H×W×3 image (input gray)",
        loss="L1",
        role="source_only",
        label=LabelSpec(shape=(3, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb_gray",
        head=HeadSpec(decoder="dense", channels=3, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("rgb_label"),
        notes="",
    )
)

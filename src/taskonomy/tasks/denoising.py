"""denoising (2018: ``denoise``): H×W×3 clean image (input noised)."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

DENOISING = register_task(
    TaskSpec(
        name="denoising",
        name_2018="denoise",
        family="2D",
        order=1,
        views=1,
        output="H×W×3 clean image (input noised)",
        loss="L1",
        role="task",
        label=LabelSpec(shape=(3, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb_noised",
        head=HeadSpec(decoder="dense", channels=3, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("rgb_label"),
        notes="The paper found it an outlier of the 2D family.",
    )
)

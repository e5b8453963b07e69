"""autoencoding (2018: ``autoencoder``): H×W×3 image."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

AUTOENCODING = register_task(
    TaskSpec(
        name="autoencoding",
        name_2018="autoencoder",
        family="2D",
        order=0,
        views=1,
        output="H×W×3 image",
        loss="L1",
        role="task",
        label=LabelSpec(shape=(3, "H", "W"), dtype="float32", low=0, high=1, masked=False),
        input="rgb",
        head=HeadSpec(decoder="dense", channels=3, loss="l1", metric="mae", activation="sigmoid"),
        layout=LayoutSpec("rgb_label"),
        notes="",
    )
)

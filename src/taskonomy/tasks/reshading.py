"""reshading (2018: ``reshade``):

H×W×1 shading lit by a point light at the camera (albedo removed).
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

RESHADING = register_task(
    TaskSpec(
        name="reshading",
        name_2018="reshade",
        family="3D",
        order=10,
        views=1,
        output="H×W×1 shading lit by a point light at the camera (albedo removed)",
        loss="L1, masked",
        role="task",
        label=LabelSpec(shape=(1, "H", "W"), dtype="float32", low=0, high=1, masked=True),
        input="rgb",
        head=HeadSpec(
            decoder="dense", channels=1, loss="masked_l1", metric="mae", activation="sigmoid"
        ),
        layout=LayoutSpec("gray8"),
        notes="",
    )
)

"""principal_curvature (2018: ``curvature``): H×W×2 principal curvatures."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

PRINCIPAL_CURVATURE = register_task(
    TaskSpec(
        name="principal_curvature",
        name_2018="curvature",
        family="3D",
        order=11,
        views=1,
        output="H×W×2 principal curvatures",
        loss="L2, masked",
        role="task",
        label=LabelSpec(shape=(2, "H", "W"), dtype="float32", low=None, high=None, masked=True),
        input="rgb",
        head=HeadSpec(decoder="dense", channels=2, loss="masked_l2", metric="rmse"),
        layout=LayoutSpec("curv8"),
        notes="Signed (k1 >= k2), tanh(0.03 m * k) of curvatures in 1/m at the pixel scale, "
        "creases included (bounded; see labels.py).",
    )
)

"""vanishing_point (2018: ``vanishing_point_well_defined``):

9 numbers: the three room axes in the camera frame.
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

VANISHING_POINT = register_task(
    TaskSpec(
        name="vanishing_point",
        name_2018="vanishing_point_well_defined",
        family="geometric",
        order=17,
        views=1,
        output="9 numbers: the three room axes in the camera frame",
        loss="MSE",
        role="task",
        label=LabelSpec(shape=(9,), dtype="float32", low=-1, high=1, masked=False),
        input="rgb",
        head=HeadSpec(decoder="vector", channels=9, loss="l2", metric="rmse", activation="tanh"),
        layout=LayoutSpec("point_info", folder="point_info", domain="point_info"),
        notes="",
    )
)

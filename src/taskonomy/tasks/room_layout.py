"""room_layout (2018: ``room_layout``):

9 numbers: room box rotation, centre and size in the camera frame.
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

ROOM_LAYOUT = register_task(
    TaskSpec(
        name="room_layout",
        name_2018="room_layout",
        family="geometric",
        order=16,
        views=1,
        output="9 numbers: room box rotation, centre and size in the camera frame",
        loss="MSE",
        role="task",
        label=LabelSpec(shape=(9,), dtype="float32", low=None, high=None, masked=False),
        input="rgb",
        head=HeadSpec(decoder="vector", channels=9, loss="l2", metric="rmse"),
        layout=LayoutSpec("point_info", folder="point_info", domain="point_info"),
        notes="",
    )
)

"""class_object (2018: ``class_1000``):

distribution over object classes (visible-area soft label).
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

CLASS_OBJECT = register_task(
    TaskSpec(
        name="class_object",
        name_2018="class_1000",
        family="semantic",
        order=23,
        views=1,
        output="distribution over object classes (visible-area soft label)",
        loss="soft CE",
        role="task",
        label=LabelSpec(shape=("n_object_classes",), dtype="float32", low=0, high=1, masked=False),
        input="rgb",
        head=HeadSpec(
            decoder="classify", channels="n_object_classes", loss="soft_ce", metric="accuracy"
        ),
        layout=LayoutSpec("npy_vec"),
        notes="",
    )
)

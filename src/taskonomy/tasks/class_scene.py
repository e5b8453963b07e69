"""class_scene (2018: ``class_places``): scene (room type) class."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

CLASS_SCENE = register_task(
    TaskSpec(
        name="class_scene",
        name_2018="class_places",
        family="semantic",
        order=24,
        views=1,
        output="scene (room type) class",
        loss="CE",
        role="task",
        label=LabelSpec(shape=(), dtype="int64", low=0, high=None, masked=False),
        input="rgb",
        head=HeadSpec(decoder="classify", channels="n_scene_classes", loss="ce", metric="accuracy"),
        layout=LayoutSpec("npy_onehot"),
        notes="",
    )
)

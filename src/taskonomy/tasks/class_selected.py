"""class_selected (2018: ``class_selected``):

the 2018 object-class subset (published results only).
"""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import TaskSpec

CLASS_SELECTED = register_task(
    TaskSpec(
        name="class_selected",
        name_2018="class_selected",
        family="semantic",
        order=25,
        views=1,
        output="the 2018 object-class subset (published results only)",
        loss="soft CE",
        role="published_only",
        label=None,
        input="rgb",
        notes="Appears only in the published 2018 files; no synthetic label.",
    )
)

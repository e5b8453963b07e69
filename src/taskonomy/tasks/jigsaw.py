"""jigsaw (2018: ``jigsaw``): class among a fixed permutation set of 3×3 tiles."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, LayoutSpec, TaskSpec

JIGSAW = register_task(
    TaskSpec(
        name="jigsaw",
        name_2018="jigsaw",
        family="geometric",
        order=15,
        views=1,
        output="class among a fixed permutation set of 3×3 tiles",
        loss="CE",
        role="source_only",
        label=LabelSpec(shape=(), dtype="int64", low=0, high=None, masked=False),
        input="rgb_jigsaw",
        head=HeadSpec(
            decoder="classify", channels="n_jigsaw_permutations", loss="ce", metric="accuracy"
        ),
        layout=LayoutSpec("npy_int", released=False),
        notes="Label: index into the fixed permutation set.",
    )
)

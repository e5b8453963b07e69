"""jigsaw (2018: ``jigsaw``): class among a fixed permutation set of 3×3 tiles."""

from taskonomy.tasks import register_task
from taskonomy.tasks.spec import HeadSpec, LabelSpec, TaskSpec

JIGSAW = register_task(
    TaskSpec(
        name="jigsaw",
        name_2018="jigsaw",
        family="geometric",
        views=1,
        output="class among a fixed permutation set of 3×3 tiles",
        loss="CE",
        role="source_only",
        label=LabelSpec(shape=(), dtype="int64", low=0, high=None, masked=False),
        input="rgb_jigsaw",
        head=HeadSpec(
            decoder="classify", channels="n_jigsaw_permutations", loss="ce", metric="accuracy"
        ),
        notes="Label: index into the fixed permutation set.",
    )
)

"""Class lists and the integer ids shared by the synthetic world (the same for every scene)."""

from __future__ import annotations

OBJECT_CLASSES: tuple[str, ...] = (
    "bed",
    "chair",
    "sofa",
    "table",
    "cabinet",
    "shelf",
    "lamp",
    "plant",
    "tv",
    "toilet",
    "bathtub",
    "door",
    "window",
    "picture",
    "rug",
)
SURFACE_CLASSES: tuple[str, ...] = ("floor", "wall", "ceiling")
SEMANTIC_CLASSES: tuple[str, ...] = SURFACE_CLASSES + OBJECT_CLASSES
SCENE_CLASSES: tuple[str, ...] = (
    "bedroom",
    "living_room",
    "kitchen",
    "office",
    "bathroom",
    "dining_room",
)

# primitive kinds
BOX, CONE, SPHERE = 0, 1, 2

# material patterns
SOLID, STRIPES, CHECKER, NOISE, WOOD, TILES, PAINTING, SKY, PLANKS = range(9)

# room faces: index = 2 * axis + (1 if the face is at the upper bound)
FACE_FLOOR, FACE_CEILING = 2, 3


def semantic_of_face(face: int) -> int:
    """Semantic class id (index into ``SEMANTIC_CLASSES``) of a room face."""
    if face == FACE_FLOOR:
        return 0
    if face == FACE_CEILING:
        return 2
    return 1

"""Room recipes: per room type, its surface styles, size range and furniture list."""

from __future__ import annotations

from taskonomy.data.synthetic.classes import OBJECT_CLASSES
from taskonomy.data.synthetic.materials import Material, Palette

# room surface styles per scene class: (floor options, wall options)
ROOM_STYLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bedroom": (("planks", "carpet"), ("paint", "wallpaper")),
    "living_room": (("planks", "planks", "carpet"), ("paint", "wallpaper")),
    "kitchen": (("checker", "tiles"), ("paint", "tiles")),
    "office": (("carpet", "planks"), ("paint",)),
    "bathroom": (("small_tiles", "checker"), ("tiles", "small_tiles")),
    "dining_room": (("planks", "checker"), ("paint", "wallpaper")),
}


def draw_room_material(p: Palette, name: str) -> Material:
    if name == "planks":
        return p.planks()
    if name == "carpet":
        return p.carpet()
    if name == "checker":
        return p.checker()
    if name == "tiles":
        return p.tiles()
    if name == "small_tiles":
        return p.tiles(small=True)
    if name == "wallpaper":
        return p.wallpaper()
    return p.paint()


# scene recipes: (object class, min count, max count, probability of appearing at all)
RECIPES: dict[str, tuple[tuple[str, int, int, float], ...]] = {
    "bedroom": (
        ("door", 1, 1, 1.0),
        ("rug", 1, 1, 0.6),
        ("bed", 1, 1, 1.0),
        ("cabinet", 1, 2, 1.0),
        ("shelf", 0, 1, 0.5),
        ("chair", 1, 1, 0.4),
        ("lamp", 1, 1, 0.6),
        ("plant", 1, 1, 0.4),
        ("window", 1, 2, 0.9),
        ("picture", 1, 2, 0.7),
    ),
    "living_room": (
        ("door", 1, 1, 1.0),
        ("rug", 1, 1, 0.8),
        ("sofa", 1, 2, 1.0),
        ("table", 1, 1, 0.9),
        ("tv", 1, 1, 0.8),
        ("chair", 1, 2, 0.6),
        ("shelf", 1, 2, 0.5),
        ("lamp", 1, 2, 0.7),
        ("plant", 1, 2, 0.7),
        ("window", 1, 3, 1.0),
        ("picture", 1, 3, 0.8),
    ),
    "kitchen": (
        ("door", 1, 1, 1.0),
        ("cabinet", 2, 4, 1.0),
        ("table", 1, 1, 0.8),
        ("chair", 2, 4, 0.8),
        ("plant", 1, 1, 0.4),
        ("window", 1, 2, 0.9),
        ("picture", 1, 1, 0.3),
    ),
    "office": (
        ("door", 1, 1, 1.0),
        ("table", 1, 2, 1.0),
        ("chair", 1, 3, 1.0),
        ("shelf", 1, 2, 0.9),
        ("cabinet", 1, 2, 0.6),
        ("tv", 1, 1, 0.3),
        ("lamp", 1, 1, 0.4),
        ("plant", 1, 2, 0.6),
        ("window", 1, 2, 0.9),
        ("picture", 1, 1, 0.4),
    ),
    "bathroom": (
        ("door", 1, 1, 1.0),
        ("toilet", 1, 1, 1.0),
        ("bathtub", 1, 1, 0.8),
        ("cabinet", 1, 1, 1.0),
        ("plant", 1, 1, 0.3),
        ("window", 1, 1, 0.6),
        ("picture", 1, 1, 0.4),
    ),
    "dining_room": (
        ("door", 1, 1, 1.0),
        ("rug", 1, 1, 0.6),
        ("table", 1, 1, 1.0),
        ("chair", 4, 6, 1.0),
        ("cabinet", 1, 2, 0.7),
        ("shelf", 1, 1, 0.4),
        ("lamp", 1, 1, 0.4),
        ("plant", 1, 2, 0.6),
        ("window", 1, 3, 1.0),
        ("picture", 1, 3, 0.8),
    ),
}
ROOM_SIZE: dict[str, tuple[float, float]] = {  # (min, max) side length in metres
    "bedroom": (3.2, 5.0),
    "living_room": (4.0, 6.5),
    "kitchen": (3.0, 5.0),
    "office": (3.2, 5.5),
    "bathroom": (2.4, 3.4),
    "dining_room": (3.8, 6.0),
}


def allowed_object_classes(scene_class: str) -> tuple[str, ...]:
    """Object classes a room type can contain (lamp includes the ceiling light fixtures)."""
    names = {r[0] for r in RECIPES[scene_class]} | {"lamp"}
    if any(r[0] == "table" for r in RECIPES[scene_class]):
        names.add("chair")  # chairs are pulled up to tables
    return tuple(c for c in OBJECT_CLASSES if c in names)

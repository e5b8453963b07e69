"""The procedural world: a room box furnished with objects built from analytic primitives.

Conventions (used by every module of the package):

- World frame: metres, ``y`` up, the room is the box ``[0, Lx] × [0, Ly] × [0, Lz]`` with the
  floor at ``y = 0``. Objects stand on the floor (or hang on a wall) and are rotated about the
  vertical only (``yaw``: the object's front, local ``+z``, points along ``(sin yaw, 0, cos yaw)``).
- Primitives: ``box`` (axis-aligned in its local frame), ``cone`` (a capped frustum along its
  local ``y``; a cylinder when both radii agree) and ``sphere``. Every primitive is a closed
  convex solid, so a camera outside all of them only ever sees outer surfaces.
- Materials are procedural textures evaluated in surface coordinates (metres).

Two independent random streams drive a scene: the *geometry* stream (room, objects, lights)
and the *material* stream (colours, patterns), so ``textures=False`` renders the very same
geometry with flat colours (what the texture-invariance tests rely on).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from taskonomy.errors import input_error, one_of

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# ----------------------------------------------------------------------------------------------
# class lists (module constants: the same for every scene)

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


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class SceneConfig:
    """What to render: image size, views per scene and generator knobs.

    ``size``: image height = width in pixels. ``views``: views per scene (>= 3, grouped into
    multi-view tuples, see ``views.py``). ``fov_deg``: horizontal = vertical field of view of
    the pinhole camera. ``z_max``: depth (metres) mapped to 1 by the log-depth labels.
    ``textures``: procedural textures (False: flat colours, same geometry). ``shadows``: cast
    shadows from the ceiling lights. ``furnish``: place objects (False: an empty room).
    ``scene_class``: force a room type (None: drawn uniformly). ``n_jigsaw``: size of the
    fixed jigsaw permutation set. ``noise_std``: std of the denoising input's Gaussian noise.
    ``mask_fraction``: side of the inpainting square as a fraction of the image side.
    """

    size: int = 64
    views: int = 6
    fov_deg: float = 65.0
    z_max: float = 20.0
    textures: bool = True
    shadows: bool = True
    furnish: bool = True
    scene_class: str | None = None
    n_jigsaw: int = 100
    noise_std: float = 0.1
    mask_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 16 <= self.size <= 1024:
            raise input_error(
                "SceneConfig.size", self.size, "an int in [16, 1024]", "Use e.g. size=64."
            )
        if not isinstance(self.views, int) or not 3 <= self.views <= 64:
            raise input_error(
                "SceneConfig.views",
                self.views,
                "an int in [3, 64]",
                "Multi-view tasks need at least 3 views per scene.",
            )
        if not 20.0 <= float(self.fov_deg) <= 120.0:
            raise input_error("SceneConfig.fov_deg", self.fov_deg, "a float in [20, 120]")
        if not 5.0 <= float(self.z_max) <= 1000.0:
            raise input_error(
                "SceneConfig.z_max", self.z_max, "a float in [5, 1000] metres", "Rooms are < 10 m."
            )
        if self.scene_class is not None and self.scene_class not in SCENE_CLASSES:
            raise input_error(
                "SceneConfig.scene_class", self.scene_class, one_of(SCENE_CLASSES) + " or None"
            )
        if not isinstance(self.n_jigsaw, int) or not 2 <= self.n_jigsaw <= 1000:
            raise input_error("SceneConfig.n_jigsaw", self.n_jigsaw, "an int in [2, 1000]")
        if not 0.0 <= float(self.noise_std) <= 1.0:
            raise input_error("SceneConfig.noise_std", self.noise_std, "a float in [0, 1]")
        if not 0.0 < float(self.mask_fraction) < 1.0:
            raise input_error("SceneConfig.mask_fraction", self.mask_fraction, "a float in (0, 1)")


# ----------------------------------------------------------------------------------------------
# materials


@dataclass(frozen=True)
class Material:
    """A procedural texture: ``pattern`` mixes colours ``c1``/``c2``/``c3`` at ``period`` metres.

    ``aux`` is a pattern option (stripe direction 0 = along u, 1 = along v; duty of grout lines
    for tiles). ``emit`` adds light of the material's own colour (lamp shades, sky, screens).
    ``valid`` False marks surfaces without a valid depth reading (window glass).
    """

    pattern: int
    c1: tuple[float, float, float]
    c2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    c3: tuple[float, float, float] = (0.0, 0.0, 0.0)
    period: float = 1.0
    aux: float = 0.0
    emit: float = 0.0
    valid: bool = True

    def flat(self) -> Material:
        """The same material with its texture replaced by its mean colour."""
        if self.pattern in (SOLID, SKY):
            return self
        w = {STRIPES: 0.5, CHECKER: 0.5, NOISE: 0.5, WOOD: 0.5, TILES: 0.1, PLANKS: 0.5}
        if self.pattern == PAINTING:
            mean = tuple((a + b + c) / 3 for a, b, c in zip(self.c1, self.c2, self.c3, strict=True))
        else:
            t = w.get(self.pattern, 0.5)
            mean = tuple((1 - t) * a + t * b for a, b in zip(self.c1, self.c2, strict=True))
        return Material(SOLID, (mean[0], mean[1], mean[2]), emit=self.emit, valid=self.valid)


def _srgb_to_linear(c: tuple[float, float, float]) -> tuple[float, float, float]:
    return (c[0] ** 2.2, c[1] ** 2.2, c[2] ** 2.2)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    """An sRGB-specified colour converted to linear reflectance."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return _srgb_to_linear((r, g, b))


def _shade(c: tuple[float, float, float], f: float) -> tuple[float, float, float]:
    return (min(c[0] * f, 1.0), min(c[1] * f, 1.0), min(c[2] * f, 1.0))


class _Palette:
    """Draws materials for named slots from the material random stream."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def wood(self) -> Material:
        h = self.u(0.05, 0.1)
        v = self.u(0.3, 0.75)
        c1 = _hsv(h, self.u(0.45, 0.7), v)
        return Material(WOOD, c1, _shade(c1, 0.6), period=self.u(0.04, 0.09), aux=0.0)

    def planks(self) -> Material:
        m = self.wood()
        return Material(PLANKS, m.c1, m.c2, period=self.u(0.15, 0.3), aux=self.u(0.8, 1.6))

    def paint(self, sat: tuple[float, float] = (0.05, 0.35)) -> Material:
        c = _hsv(self.u(0, 1), self.u(*sat), self.u(0.6, 0.92))
        return Material(NOISE, c, _shade(c, 0.93), period=self.u(0.3, 0.8))

    def wallpaper(self) -> Material:
        h = self.u(0, 1)
        c1 = _hsv(h, self.u(0.1, 0.35), self.u(0.7, 0.9))
        c2 = _hsv(h + self.u(-0.1, 0.1), self.u(0.2, 0.5), self.u(0.5, 0.75))
        return Material(STRIPES, c1, c2, period=self.u(0.18, 0.45), aux=1.0)

    def tiles(self, small: bool = False) -> Material:
        c1 = _hsv(self.u(0, 1), self.u(0.0, 0.3), self.u(0.65, 0.95))
        grout = _hsv(0.1, 0.05, self.u(0.35, 0.55))
        p = self.u(0.1, 0.2) if small else self.u(0.25, 0.5)
        return Material(TILES, c1, grout, period=p, aux=0.06)

    def checker(self) -> Material:
        c1 = _hsv(self.u(0, 1), self.u(0.0, 0.2), self.u(0.75, 0.95))
        c2 = _hsv(self.u(0, 1), self.u(0.0, 0.5), self.u(0.15, 0.45))
        return Material(CHECKER, c1, c2, period=self.u(0.25, 0.5))

    def carpet(self) -> Material:
        c = _hsv(self.u(0, 1), self.u(0.1, 0.5), self.u(0.3, 0.7))
        return Material(NOISE, c, _shade(c, 0.6), period=self.u(0.15, 0.4))

    def fabric(self) -> Material:
        c1 = _hsv(self.u(0, 1), self.u(0.2, 0.7), self.u(0.3, 0.8))
        r = self.u(0, 1)
        if r < 0.6:
            return Material(NOISE, c1, _shade(c1, 0.6), period=self.u(0.12, 0.3))
        c2 = _hsv(self.u(0, 1), self.u(0.1, 0.5), self.u(0.6, 0.95))
        if r < 0.8:
            return Material(STRIPES, c1, c2, period=self.u(0.12, 0.3), aux=float(r < 0.7))
        return Material(CHECKER, c1, c2, period=self.u(0.12, 0.3))

    def white(self) -> Material:
        return Material(SOLID, _hsv(self.u(0, 1), self.u(0, 0.06), self.u(0.85, 0.96)))

    def metal(self) -> Material:
        return Material(SOLID, _hsv(self.u(0, 1), self.u(0, 0.08), self.u(0.35, 0.75)))

    def dark(self) -> Material:
        return Material(SOLID, _hsv(self.u(0, 1), self.u(0, 0.2), self.u(0.08, 0.2)))

    def ceramic(self) -> Material:
        c = _hsv(self.u(0.5, 0.65), self.u(0.0, 0.05), self.u(0.88, 0.97))
        return Material(NOISE, c, _shade(c, 0.95), period=0.3)

    def leaf(self) -> Material:
        c1 = _hsv(self.u(0.22, 0.36), self.u(0.5, 0.8), self.u(0.3, 0.6))
        return Material(NOISE, c1, _shade(c1, 0.5), period=self.u(0.03, 0.06))

    def pot(self) -> Material:
        if self.u(0, 1) < 0.6:
            return Material(SOLID, _hsv(self.u(0.02, 0.07), self.u(0.5, 0.7), self.u(0.5, 0.75)))
        return Material(SOLID, _hsv(self.u(0, 1), self.u(0, 0.4), self.u(0.3, 0.9)))

    def soil(self) -> Material:
        c = _hsv(0.07, 0.5, 0.2)
        return Material(NOISE, c, _shade(c, 0.6), period=0.02)

    def book(self) -> Material:
        return Material(SOLID, _hsv(self.u(0, 1), self.u(0.3, 0.8), self.u(0.25, 0.8)))

    def shade(self) -> Material:
        c = _hsv(self.u(0.08, 0.15), self.u(0.1, 0.4), self.u(0.85, 1.0))
        return Material(SOLID, c, emit=self.u(0.8, 1.4))

    def bulb(self) -> Material:
        return Material(SOLID, _hsv(0.12, 0.1, 1.0), emit=2.0)

    def rug(self) -> Material:
        r = self.u(0, 1)
        c1 = _hsv(self.u(0, 1), self.u(0.3, 0.7), self.u(0.35, 0.8))
        c2 = _hsv(self.u(0, 1), self.u(0.2, 0.6), self.u(0.2, 0.9))
        if r < 0.35:
            return Material(STRIPES, c1, c2, period=self.u(0.15, 0.4), aux=float(r < 0.2))
        if r < 0.6:
            return Material(CHECKER, c1, c2, period=self.u(0.2, 0.45))
        c3 = _hsv(self.u(0, 1), self.u(0.3, 0.8), self.u(0.3, 0.9))
        return Material(PAINTING, c1, c2, c3, period=self.u(0.2, 0.5))

    def sky(self) -> Material:
        c1 = _hsv(self.u(0.53, 0.6), self.u(0.1, 0.25), self.u(0.85, 1.0))  # near the horizon
        c2 = _hsv(self.u(0.56, 0.62), self.u(0.35, 0.6), self.u(0.7, 0.9))  # higher up
        return Material(SKY, c1, c2, period=1.2, emit=self.u(0.7, 0.9), valid=False)

    def trim(self) -> Material:
        r = self.u(0, 1)
        return self.white() if r < 0.5 else (self.wood() if r < 0.8 else self.dark())

    def screen(self) -> Material:
        c1 = _hsv(self.u(0.55, 0.7), self.u(0.3, 0.7), self.u(0.1, 0.3))
        c2 = _hsv(self.u(0, 1), self.u(0.3, 0.7), self.u(0.2, 0.5))
        return Material(SKY, c1, c2, period=0.6, emit=0.4)

    def painting(self) -> Material:
        cs = [_hsv(self.u(0, 1), self.u(0.3, 0.9), self.u(0.3, 0.95)) for _ in range(3)]
        return Material(PAINTING, cs[0], cs[1], cs[2], period=self.u(0.12, 0.3))

    def stone(self) -> Material:
        c = _hsv(self.u(0, 1), self.u(0, 0.15), self.u(0.2, 0.85))
        return Material(NOISE, c, _shade(c, 0.75), period=self.u(0.05, 0.12))

    def slot(self, name: str) -> Material:
        """A material for a named slot of an object model."""
        table: dict[str, Callable[[], Material]] = {
            "wood": self.wood,
            "fabric": self.fabric,
            "white": self.white,
            "metal": self.metal,
            "dark": self.dark,
            "ceramic": self.ceramic,
            "leaf": self.leaf,
            "pot": self.pot,
            "soil": self.soil,
            "book": self.book,
            "shade": self.shade,
            "bulb": self.bulb,
            "sky": self.sky,
            "screen": self.screen,
            "painting": self.painting,
            "stone": self.stone,
            "paint": self.paint,
            "trim": self.trim,
            "rug": self.rug,
        }
        return table[name]()


# room surface styles per scene class: (floor options, wall options)
_ROOM_STYLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bedroom": (("planks", "carpet"), ("paint", "wallpaper")),
    "living_room": (("planks", "planks", "carpet"), ("paint", "wallpaper")),
    "kitchen": (("checker", "tiles"), ("paint", "tiles")),
    "office": (("carpet", "planks"), ("paint",)),
    "bathroom": (("small_tiles", "checker"), ("tiles", "small_tiles")),
    "dining_room": (("planks", "checker"), ("paint", "wallpaper")),
}


def _room_material(p: _Palette, name: str) -> Material:
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


# ----------------------------------------------------------------------------------------------
# object models (local frame: floor at y = 0, front towards +z, centred on the footprint)


@dataclass
class _Prim:
    kind: int
    center: tuple[float, float, float]
    size: tuple[float, float, float]  # box: half extents; cone: (r_bottom, r_top, half height)
    slot: str
    axis: int = 1  # cone axis in the object frame (0 = x, 1 = y, 2 = z)
    shadow: bool = True


@dataclass
class _Model:
    cls: str
    prims: list[_Prim]
    half: tuple[float, float]  # footprint half extents (x, z)
    height: float
    place: str  # "wall", "free", "corner", "mounted"
    mount_y: float = 0.0  # mounted objects: height of the model's y = 0 above the floor
    clearance: float = 0.0  # free floor needed in front (doors)


class _M:
    """Collects primitives of one object model."""

    def __init__(self) -> None:
        self.prims: list[_Prim] = []

    def box(self, c: tuple[float, float, float], h: tuple[float, float, float], slot: str) -> None:
        self.prims.append(_Prim(BOX, c, h, slot))

    def cyl(
        self, c: tuple[float, float, float], r: float, hh: float, slot: str, axis: int = 1
    ) -> None:
        self.prims.append(_Prim(CONE, c, (r, r, hh), slot, axis))

    def cone(
        self, c: tuple[float, float, float], r0: float, r1: float, hh: float, slot: str
    ) -> None:
        self.prims.append(_Prim(CONE, c, (r0, r1, hh), slot))

    def sphere(self, c: tuple[float, float, float], r: float, slot: str) -> None:
        self.prims.append(_Prim(SPHERE, c, (r, r, r), slot))


def _rug(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    w, d = rng.uniform(1.2, 2.6), rng.uniform(0.8, 1.8)
    m.box((0, 0.005, 0), (w / 2, 0.005, d / 2), "rug")
    m.prims[0].shadow = False
    return _Model("rug", m.prims, (w / 2, d / 2), 0.01, "floor")


def _table(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    if scene == "living_room":  # coffee table
        w, d, h = u(0.8, 1.2), u(0.45, 0.65), u(0.38, 0.46)
    elif scene == "dining_room":
        w, d, h = u(1.4, 2.0), u(0.8, 1.0), u(0.72, 0.78)
    else:
        w, d, h = u(0.9, 1.5), u(0.6, 0.85), u(0.72, 0.78)
    t = u(0.03, 0.05)
    if scene in ("kitchen", "dining_room") and rng.random() < 0.3:  # round pedestal table
        r = min(w, d) / 2 + 0.1
        m.cyl((0, h - t / 2, 0), r, t / 2, "top")
        m.cyl((0, (h - t) / 2, 0), 0.05, (h - t) / 2, "leg")
        m.cyl((0, 0.015, 0), 0.28, 0.015, "leg")
        return _Model("table", m.prims, (r, r), h, "free")
    m.box((0, h - t / 2, 0), (w / 2, t / 2, d / 2), "top")
    inset, lh = 0.06, (h - t) / 2
    round_legs = rng.random() < 0.5
    for sx in (-1, 1):
        for sz in (-1, 1):
            c = (sx * (w / 2 - inset), lh, sz * (d / 2 - inset))
            if round_legs:
                m.cyl(c, 0.025, lh, "leg")
            else:
                m.box(c, (0.025, lh, 0.025), "leg")
    if rng.random() < 0.5:  # apron under the top
        m.box((0, h - t - 0.04, 0), (w / 2 - inset, 0.04, d / 2 - inset), "top")
    return _Model("table", m.prims, (w / 2, d / 2), h, "free")


def _chair(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    if scene == "living_room" and rng.random() < 0.7:  # upholstered armchair
        w, d, sh = u(0.7, 0.9), u(0.7, 0.85), u(0.38, 0.45)
        m.box((0, sh / 2, 0.03), (w / 2 - 0.12, sh / 2, d / 2 - 0.03), "upholstery")
        m.box((0, 0.45, -d / 2 + 0.1), (w / 2, 0.45, 0.1), "upholstery")
        for sx in (-1, 1):
            m.box((sx * (w / 2 - 0.06), 0.3, 0.0), (0.06, 0.3, d / 2), "upholstery")
        m.box((0, sh + 0.06, 0.05), (w / 2 - 0.13, 0.06, d / 2 - 0.12), "cushion")
        return _Model("chair", m.prims, (w / 2, d / 2), 0.9, "free")
    w, d, sh = u(0.42, 0.5), u(0.42, 0.5), u(0.43, 0.47)
    t = 0.04
    m.box((0, sh - t / 2, 0), (w / 2, t / 2, d / 2), "seat")
    lh = (sh - t) / 2
    round_legs = rng.random() < 0.5
    for sx in (-1, 1):
        for sz in (-1, 1):
            c = (sx * (w / 2 - 0.03), lh, sz * (d / 2 - 0.03))
            if round_legs:
                m.cyl(c, 0.018, lh, "leg")
            else:
                m.box(c, (0.018, lh, 0.018), "leg")
    bh = u(0.35, 0.5)
    for sx in (-1, 1):  # back posts
        m.box((sx * (w / 2 - 0.03), sh + bh / 2, -d / 2 + 0.02), (0.018, bh / 2, 0.018), "leg")
    m.box((0, sh + bh - 0.08, -d / 2 + 0.02), (w / 2, 0.08, 0.015), "back")
    if rng.random() < 0.5:
        m.box((0, sh + bh / 2 - 0.06, -d / 2 + 0.02), (w / 2 - 0.03, 0.03, 0.012), "back")
    return _Model("chair", m.prims, (w / 2, d / 2), sh + bh, "free")


def _sofa(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w, d = u(1.6, 2.3), u(0.85, 1.0)
    base, arm_w, back_t = u(0.38, 0.44), u(0.14, 0.22), u(0.16, 0.24)
    leg = 0.07
    for sx in (-1, 1):
        for sz in (-1, 1):
            m.cyl((sx * (w / 2 - 0.08), leg / 2, sz * (d / 2 - 0.08)), 0.025, leg / 2, "leg")
    m.box((0, leg + (base - leg) / 2, 0), (w / 2, (base - leg) / 2, d / 2), "body")
    bh = u(0.78, 0.9)
    m.box((0, (leg + bh) / 2, -d / 2 + back_t / 2), (w / 2, (bh - leg) / 2, back_t / 2), "body")
    ah = u(0.55, 0.65)
    for sx in (-1, 1):
        m.box(
            (sx * (w / 2 - arm_w / 2), (leg + ah) / 2, 0),
            (arm_w / 2, (ah - leg) / 2, d / 2),
            "body",
        )
    n = 2 if w < 1.9 else 3
    inner = w - 2 * arm_w
    cw = inner / n
    ct = 0.12
    for i in range(n):
        cx = -inner / 2 + cw * (i + 0.5)
        cz = back_t / 2
        m.box((cx, base + ct / 2, cz), (cw / 2 - 0.008, ct / 2, (d - back_t) / 2 - 0.01), "cushion")
        m.box(
            (cx, base + ct + 0.2, -d / 2 + back_t + 0.07),
            (cw / 2 - 0.01, 0.2, 0.07),
            "cushion",
        )
    return _Model("sofa", m.prims, (w / 2, d / 2), bh, "wall")


def _bed(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w = float(rng.choice([0.95, 1.4, 1.6, 1.8])) + u(-0.03, 0.03)
    ln = u(2.0, 2.15)
    fh, mh = u(0.25, 0.35), u(0.18, 0.24)
    m.box((0, fh / 2, 0), (w / 2, fh / 2, ln / 2), "frame")
    m.box((0, fh + mh / 2, 0.02), (w / 2 - 0.03, mh / 2, ln / 2 - 0.05), "mattress")
    hb = u(0.9, 1.25)
    m.box((0, hb / 2, -ln / 2 - 0.03), (w / 2 + 0.03, hb / 2, 0.03), "frame")
    top = fh + mh
    npil = 1 if w < 1.2 else 2
    pw = (w - 0.2) / npil
    for i in range(npil):
        px = -w / 2 + 0.1 + pw * (i + 0.5)
        m.box((px, top + 0.06, -ln / 2 + 0.3), (pw / 2 - 0.04, 0.06, 0.18), "pillow")
    bl = ln * u(0.55, 0.7)
    m.box((0, top + 0.02, ln / 2 - bl / 2 + 0.01), (w / 2 + 0.01, 0.03, bl / 2), "blanket")
    return _Model("bed", m.prims, (w / 2 + 0.03, ln / 2 + 0.06), hb, "wall")


def _cabinet(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    if scene == "kitchen":
        w, d, h = u(0.8, 2.0), 0.6, 0.9
    elif scene == "bathroom":
        w, d, h = u(0.6, 1.0), u(0.45, 0.55), 0.85
    elif scene == "bedroom" and rng.random() < 0.5:
        w, d, h = u(1.0, 1.6), u(0.55, 0.62), u(1.8, 2.05)  # wardrobe
    else:
        w, d, h = u(0.45, 1.4), u(0.4, 0.5), u(0.5, 0.95)
    plinth = 0.06
    m.box((0, plinth / 2, -0.03), (w / 2 - 0.03, plinth / 2, d / 2 - 0.03), "dark")
    m.box((0, plinth + (h - plinth) / 2, 0), (w / 2, (h - plinth) / 2, d / 2), "body")
    if scene in ("kitchen", "bathroom"):
        m.box((0, h + 0.02, 0.01), (w / 2 + 0.01, 0.02, d / 2 + 0.01), "counter")
    ndoor = max(1, round(w / 0.5))
    dw = w / ndoor
    drawers = h < 1.0 and rng.random() < 0.5
    nrow = 3 if drawers else 1
    rh = (h - plinth) / nrow
    for i in range(ndoor):
        for j in range(nrow):
            cx = -w / 2 + dw * (i + 0.5)
            cy = plinth + rh * (j + 0.5)
            m.box((cx, cy, d / 2 + 0.008), (dw / 2 - 0.006, rh / 2 - 0.006, 0.008), "front")
            hx = cx if drawers else cx + (dw / 2 - 0.06) * (1 if i % 2 == 0 else -1)
            hy = cy if drawers else min(cy + rh * 0.25, 1.1)
            m.box((hx, hy, d / 2 + 0.025), (0.05 if drawers else 0.01, 0.01, 0.01), "handle")
    if scene == "bathroom":  # basin on the vanity
        m.cyl((0, h + 0.08, 0.0), 0.18, 0.06, "basin")
        m.cyl((0, h + 0.2, -d / 2 + 0.08), 0.015, 0.08, "handle")
    return _Model("cabinet", m.prims, (w / 2 + 0.01, d / 2 + 0.03), h, "wall")


def _shelf(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w, d, h = u(0.6, 1.2), u(0.28, 0.35), u(1.2, 2.0)
    t = 0.02
    for sx in (-1, 1):
        m.box((sx * (w / 2 - t / 2), h / 2, 0), (t / 2, h / 2, d / 2), "wood")
    m.box((0, h - t / 2, 0), (w / 2, t / 2, d / 2), "wood")
    m.box((0, h / 2, -d / 2 + 0.005), (w / 2 - t, h / 2, 0.005), "back")
    nshelf = max(2, int(h / 0.38))
    gap = (h - 0.08) / nshelf
    for i in range(nshelf):
        y0 = 0.08 + i * gap
        m.box((0, y0 - t / 2, 0), (w / 2 - t, t / 2, d / 2 - 0.01), "wood")
        x = -w / 2 + t + u(0.0, 0.15)
        for _ in range(6):  # a row of books (each box stands for a few books)
            bw = u(0.04, 0.12)
            if x + bw > w / 2 - t - 0.01:
                break
            bh = gap * u(0.55, 0.85)
            bd = d * u(0.6, 0.8)
            m.box(
                (x + bw / 2, y0 + bh / 2, -d / 2 + 0.01 + bd / 2), (bw / 2, bh / 2, bd / 2), "book"
            )
            x += bw + u(0.0, 0.05)
    return _Model("shelf", m.prims, (w / 2, d / 2), h, "wall")


def _lamp(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    ph = u(1.2, 1.55)
    m.cyl((0, 0.015, 0), u(0.12, 0.16), 0.015, "metal")
    m.cyl((0, ph / 2, 0), 0.012, ph / 2, "metal")
    r0, r1, sh = u(0.17, 0.24), u(0.1, 0.14), u(0.11, 0.15)
    m.cone((0, ph + sh * 0.6, 0), r0, r1, sh, "shade")
    return _Model("lamp", m.prims, (r0, r0), ph + 1.6 * sh, "corner")


def _plant(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    ph = u(0.2, 0.38)
    rb, rt = u(0.09, 0.14), u(0.13, 0.19)
    m.cone((0, ph / 2, 0), rb, rt, ph / 2, "pot")
    m.cyl((0, ph + 0.005, 0), rt * 0.9, 0.005, "soil")
    tall = rng.random() < 0.5
    stem = u(0.4, 0.9) if tall else u(0.05, 0.15)
    m.cyl((0, ph + stem / 2, 0), 0.015, stem / 2, "stem")
    top = ph + stem
    nleaf = int(rng.integers(3, 7))
    rmax = 0.0
    for _ in range(nleaf):
        r = u(0.1, 0.22)
        a = u(0, 2 * math.pi)
        off = u(0.0, 0.15)
        cy = top + u(-0.1, 0.2)
        m.sphere((off * math.cos(a), cy, off * math.sin(a)), r, "leaf")
        rmax = max(rmax, off + r)
    return _Model("plant", m.prims, (max(rmax, rt), max(rmax, rt)), top + 0.45, "corner")


def _tv(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    sw, sh = u(0.9, 1.4), u(0.55, 0.8)
    cw, cd, ch = max(sw + u(0.1, 0.5), 1.0), u(0.38, 0.45), u(0.4, 0.55)
    m.box((0, ch / 2, 0), (cw / 2, ch / 2, cd / 2), "body")
    m.box((0, ch * 0.5, cd / 2 + 0.006), (cw / 2 - 0.02, ch * 0.35, 0.006), "front")
    m.box((0, ch + 0.06, -0.02), (0.08, 0.06, 0.06), "dark")
    y0 = ch + 0.1
    m.box((0, y0 + sh / 2, -0.02), (sw / 2, sh / 2, 0.025), "dark")
    m.box((0, y0 + sh / 2, 0.007), (sw / 2 - 0.02, sh / 2 - 0.02, 0.003), "screen")
    return _Model("tv", m.prims, (cw / 2, cd / 2), y0 + sh, "wall")


def _toilet(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    bh = u(0.38, 0.42)
    m.cone((0, bh / 2, 0.05), u(0.12, 0.15), 0.19, bh / 2, "ceramic")
    m.cyl((0, bh + 0.015, 0.05), 0.2, 0.015, "seat")
    m.box((0, bh + 0.18, -0.2), (0.2, 0.2, 0.09), "ceramic")
    m.box((0, bh + 0.39, -0.2), (0.21, 0.015, 0.1), "ceramic")
    m.cyl((0.12, bh + 0.42, -0.2), 0.015, 0.01, "metal")
    return _Model("toilet", m.prims, (0.21, 0.3), bh + 0.42, "wall")


def _bathtub(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    ln, w, h, t = u(1.5, 1.75), u(0.7, 0.8), u(0.5, 0.58), 0.07
    m.box((0, 0.05, 0), (ln / 2, 0.05, w / 2), "ceramic")  # bottom
    for sz in (-1, 1):
        m.box((0, h / 2, sz * (w / 2 - t / 2)), (ln / 2, h / 2, t / 2), "ceramic")
    for sx in (-1, 1):
        m.box((sx * (ln / 2 - t / 2), h / 2, 0), (t / 2, h / 2, w / 2 - t), "ceramic")
    m.cyl((ln / 2 - 0.2, h + 0.12, -w / 2 + 0.05), 0.015, 0.12, "metal")
    # local frame: the long side is along x, the back (against the wall) at -z
    return _Model("bathtub", m.prims, (ln / 2, w / 2), h, "wall")


def _door(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w, h = u(0.8, 0.95), u(2.0, 2.1)
    m.box((0, h / 2, 0.02), (w / 2, h / 2, 0.02), "slab")
    cw = 0.06
    for sx in (-1, 1):
        m.box((sx * (w / 2 + cw / 2), (h + cw) / 2, 0.015), (cw / 2, (h + cw) / 2, 0.015), "frame")
    m.box((0, h + cw / 2, 0.015), (w / 2, cw / 2, 0.015), "frame")
    m.cyl((w / 2 - 0.08, 1.0, 0.06), 0.012, 0.02, "metal", axis=2)
    m.box((w / 2 - 0.1, 1.0, 0.08), (0.05, 0.01, 0.01), "metal")
    for p in m.prims:
        p.shadow = False
    return _Model("door", m.prims, (w / 2 + cw, 0.05), h + cw, "mounted", 0.0, clearance=0.9)


def _window(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w, h = u(0.7, 1.6), u(0.9, 1.4)
    m.box((0, h / 2, 0.004), (w / 2, h / 2, 0.004), "sky")
    f = 0.05
    for sx in (-1, 1):
        m.box((sx * (w / 2 + f / 2), h / 2, 0.02), (f / 2, h / 2 + f, 0.02), "frame")
    for sy in (0, 1):
        m.box((0, sy * h + (f / 2 if sy else -f / 2), 0.02), (w / 2, f / 2, 0.02), "frame")
    m.box((0, h / 2, 0.012), (0.015, h / 2, 0.012), "frame")
    if h > 1.1:
        m.box((0, h * 0.6, 0.012), (w / 2, 0.015, 0.012), "frame")
    m.box((0, -f - 0.02, 0.06), (w / 2 + f + 0.03, 0.02, 0.06), "frame")  # sill
    for p in m.prims:
        p.shadow = False
    return _Model("window", m.prims, (w / 2 + f + 0.03, 0.06), h, "mounted", u(0.8, 1.05))


def _picture(rng: np.random.Generator, scene: str) -> _Model:
    m = _M()
    u = rng.uniform
    w, h = u(0.35, 1.0), u(0.3, 0.75)
    m.box((0, h / 2, 0.015), (w / 2, h / 2, 0.015), "frame")
    m.box((0, h / 2, 0.032), (w / 2 - 0.04, h / 2 - 0.04, 0.003), "canvas")
    for p in m.prims:
        p.shadow = False
    return _Model("picture", m.prims, (w / 2, 0.04), h, "mounted", u(1.2, 1.5))


_BUILDERS: dict[str, Callable[[np.random.Generator, str], _Model]] = {
    "table": _table,
    "chair": _chair,
    "sofa": _sofa,
    "bed": _bed,
    "cabinet": _cabinet,
    "shelf": _shelf,
    "lamp": _lamp,
    "plant": _plant,
    "tv": _tv,
    "toilet": _toilet,
    "bathtub": _bathtub,
    "door": _door,
    "window": _window,
    "picture": _picture,
    "rug": _rug,
}

# which material (palette method) each slot of each class uses
_SLOTS: dict[str, dict[str, str]] = {
    "table": {"top": "wood", "leg": "wood"},
    "chair": {
        "seat": "wood",
        "leg": "wood",
        "back": "wood",
        "cushion": "fabric",
        "upholstery": "fabric",
    },
    "sofa": {"leg": "dark", "body": "fabric", "cushion": "fabric"},
    "bed": {"frame": "wood", "mattress": "white", "pillow": "white", "blanket": "fabric"},
    "cabinet": {
        "dark": "dark",
        "body": "wood",
        "front": "wood",
        "handle": "metal",
        "counter": "stone",
        "basin": "ceramic",
    },
    "shelf": {"wood": "wood", "back": "wood", "book": "book"},
    "lamp": {"metal": "metal", "shade": "shade"},
    "plant": {"pot": "pot", "soil": "soil", "stem": "wood", "leaf": "leaf"},
    "tv": {"body": "wood", "front": "wood", "dark": "dark", "screen": "screen"},
    "toilet": {"ceramic": "ceramic", "seat": "white", "metal": "metal"},
    "bathtub": {"ceramic": "ceramic", "metal": "metal"},
    "door": {"slab": "wood", "frame": "trim", "metal": "metal"},
    "window": {"sky": "sky", "frame": "trim"},
    "picture": {"frame": "dark", "canvas": "painting"},
    "rug": {"rug": "rug"},
}
# slots drawn once per object instance; every other slot is drawn once per primitive
_PER_PRIM_SLOTS = {"book"}

# scene recipes: (object class, min count, max count, probability of appearing at all)
_RECIPES: dict[str, tuple[tuple[str, int, int, float], ...]] = {
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
_ROOM_SIZE: dict[str, tuple[float, float]] = {  # (min, max) side length in metres
    "bedroom": (3.2, 5.0),
    "living_room": (4.0, 6.5),
    "kitchen": (3.0, 5.0),
    "office": (3.2, 5.5),
    "bathroom": (2.4, 3.4),
    "dining_room": (3.8, 6.0),
}


def allowed_object_classes(scene_class: str) -> tuple[str, ...]:
    """Object classes a room type can contain (lamp includes the ceiling light fixtures)."""
    names = {r[0] for r in _RECIPES[scene_class]} | {"lamp"}
    if any(r[0] == "table" for r in _RECIPES[scene_class]):
        names.add("chair")  # chairs are pulled up to tables
    return tuple(c for c in OBJECT_CLASSES if c in names)


# ----------------------------------------------------------------------------------------------
# the scene


@dataclass
class Primitives:
    """All primitives of a scene as flat arrays (struct of arrays, world frame).

    ``rot[i]`` maps world vectors to primitive ``i``'s local frame (rows = local axes in world
    coordinates); the local ``y`` is a cone's axis. ``size``: box half extents, cone
    ``(r_bottom, r_top, half_height)``, sphere ``(r, r, r)``. ``half``: local half extents of
    the bounding box. ``obj``: object index; ``material``: material index.
    """

    kind: NDArray[np.int8]  # (N,)
    center: F64  # (N, 3)
    rot: F64  # (N, 3, 3)
    size: F64  # (N, 3)
    half: F64  # (N, 3)
    obj: I64  # (N,)
    material: I64  # (N,)
    shadow: NDArray[np.bool_]  # (N,) casts shadows
    # component-major copies for the ray-casting kernels (filled in __post_init__)
    center_t: F64 = field(init=False, repr=False)  # (3, N)
    rot9: F64 = field(init=False, repr=False)  # (9, N): rot9[3 * i + j] = rot[:, i, j]
    size_t: F64 = field(init=False, repr=False)  # (3, N)

    soa32: tuple[NDArray[np.float32], ...] = field(init=False, repr=False)  # float32 copies

    def __post_init__(self) -> None:
        self.center_t = np.ascontiguousarray(self.center.T)
        self.rot9 = np.ascontiguousarray(self.rot.reshape(-1, 9).T)
        self.size_t = np.ascontiguousarray(self.size.T)
        self.soa32 = tuple(a.astype(np.float32) for a in (self.center_t, self.rot9, self.size_t))

    def soa(self, dtype: np.dtype[np.floating] | type) -> tuple[NDArray[np.floating], ...]:
        """(center (3, N), rot9 (9, N), size (3, N)) in float64, or float32 for shadow rays."""
        if np.dtype(dtype) == np.float32:
            return self.soa32
        return (self.center_t, self.rot9, self.size_t)

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def corners(self) -> F64:
        """World coordinates of each primitive's bounding-box corners, (N, 8, 3)."""
        signs = np.array(
            [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
        )  # (8, 3)
        local = signs[None] * self.half[:, None, :]  # (N, 8, 3)
        # local -> world is rot^T: world = center + local @ rot
        return self.center[:, None, :] + np.einsum("nkj,nji->nki", local, self.rot)


@dataclass
class Scene:
    """One furnished room: geometry, materials and lights (world frame, metres)."""

    scene_class: int
    room: F64  # (3,) Lx, Ly, Lz
    room_material: I64  # (6,) material per room face (2 * axis + upper)
    prims: Primitives
    object_class: I64  # (n_objects,) index into OBJECT_CLASSES
    object_box: F64  # (n_objects, 2, 3) world AABB (min, max) of each object
    materials: list[Material]
    lights: F64  # (n_lights, 3) shadow-casting point lights (near the ceiling)
    light_color: F64  # (n_lights, 3)
    fill_lights: F64  # (n_fill, 3) unshadowed local lights (floor lamps)
    fill_color: F64  # (n_fill, 3)
    placed: list[str] = field(default_factory=list)  # object class names, for debugging


def _rot_y(yaw: float) -> F64:
    """Object-to-world rotation about the vertical: local +z maps to (sin yaw, 0, cos yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# local frame of a cone whose axis is the object's x or z axis: rows are the local axes
_AXIS_FRAME = {
    0: np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    1: np.eye(3),
    2: np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


class _Plan:
    """Floor-plan occupancy (axis-aligned rectangles in x-z) and wall intervals."""

    def __init__(self, room: F64) -> None:
        self.room = room
        self.rects: list[tuple[float, ...]] = []
        # per wall: (along_min, along_max, y_min, y_max) of mounted objects
        self.wall_spans: dict[int, list[tuple[float, float, float, float]]] = {
            w: [] for w in range(4)
        }

    def free(self, r: tuple[float, ...], margin: float = 0.04, ignore: int | None = None) -> bool:
        """Inside the room and clear of every placed rectangle (but ``ignore``) by ``margin``."""
        x0, x1, z0, z1 = r
        if x0 < 0.02 or z0 < 0.02 or x1 > self.room[0] - 0.02 or z1 > self.room[2] - 0.02:
            return False
        return all(
            i == ignore
            or not (
                x0 < b[1] + margin
                and b[0] < x1 + margin
                and z0 < b[3] + margin
                and b[2] < z1 + margin
            )
            for i, b in enumerate(self.rects)
        )


def _footprint(
    x: float, z: float, yaw: float, half: tuple[float, float]
) -> tuple[float, float, float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ez = c * half[0] + s * half[1], s * half[0] + c * half[1]
    return (x - ex, x + ex, z - ez, z + ez)


# the four walls: (axis along the wall, fixed axis, fixed at upper bound?, yaw facing inward)
_WALLS = (
    (2, 0, False, math.pi / 2),  # x = 0 wall, objects face +x
    (2, 0, True, -math.pi / 2),  # x = Lx wall, face -x
    (0, 2, False, 0.0),  # z = 0 wall, face +z
    (0, 2, True, math.pi),  # z = Lz wall, face -z
)


def _wall_pose(room: F64, wall: int, along: float, depth: float) -> tuple[float, float, float]:
    """(x, z, yaw) of an object whose back touches ``wall`` at ``along``, centre ``depth`` in."""
    a_axis, f_axis, upper, yaw = _WALLS[wall]
    pos = [0.0, 0.0, 0.0]
    pos[a_axis] = along
    pos[f_axis] = room[f_axis] - depth if upper else depth
    return pos[0], pos[2], yaw


def generate_scene(seed: int, config: SceneConfig) -> Scene:
    """Draw a furnished room from ``seed`` (geometry and materials on separate streams)."""
    ss = np.random.SeedSequence(int(seed))
    geo_ss, mat_ss = ss.spawn(2)
    rng = np.random.default_rng(geo_ss)
    pal = _Palette(np.random.default_rng(mat_ss))

    cls_name = config.scene_class or SCENE_CLASSES[int(rng.integers(len(SCENE_CLASSES)))]
    lo, hi = _ROOM_SIZE[cls_name]
    room = np.array([rng.uniform(lo, hi), rng.uniform(2.5, 3.1), rng.uniform(lo, hi)])

    materials: list[Material] = []

    def add_mat(m: Material) -> int:
        materials.append(m.flat() if not config.textures else m)
        return len(materials) - 1

    floors, walls = _ROOM_STYLE[cls_name]
    floor_m = add_mat(_room_material(pal, floors[int(pal.rng.integers(len(floors)))]))
    wall_m = add_mat(_room_material(pal, walls[int(pal.rng.integers(len(walls)))]))
    accent = pal.rng.random() < 0.3
    accent_m = add_mat(pal.paint(sat=(0.2, 0.5))) if accent else wall_m
    ceil_m = add_mat(Material(SOLID, _hsv(0.1, 0.03, pal.u(0.88, 0.96))))
    accent_face = int(pal.rng.choice([0, 1, 4, 5]))
    room_material = np.array(
        [accent_m if f == accent_face else wall_m for f in range(6)], dtype=np.int64
    )
    room_material[FACE_FLOOR] = floor_m
    room_material[FACE_CEILING] = ceil_m

    # --- objects
    placed: list[tuple[_Model, float, float, float, float]] = []  # model, x, y0, z, yaw
    plan = _Plan(room)
    tables: list[tuple[_Model, float, float, float, int]] = []
    if config.furnish:
        todo: list[str] = []
        for name, nmin, nmax, p in _RECIPES[cls_name]:
            if rng.random() < p:
                todo += [name] * int(rng.integers(nmin, nmax + 1))
        # big wall furniture first, then free-standing, then small things and wall decorations
        order = {
            "rug": -1, "door": 0, "bed": 1, "bathtub": 1, "sofa": 2, "cabinet": 3, "tv": 3,
            "shelf": 4, "toilet": 4, "table": 5, "chair": 6, "lamp": 7, "plant": 7,
            "window": 8, "picture": 9,
        }  # fmt: skip
        todo.sort(key=lambda n: order[n])
        n_chairs_for_tables = sum(1 for n in todo if n == "chair") if cls_name in (
            "kitchen", "dining_room", "office") else 0  # fmt: skip
        for name in todo:
            if name == "chair" and tables and n_chairs_for_tables > 0:
                n_chairs_for_tables -= 1
                if _place_chair_at_table(rng, cls_name, plan, tables, placed):
                    continue
            model = _BUILDERS[name](rng, cls_name)
            pose = _place(rng, model, plan, room)
            if pose is None:
                continue
            x, y0, z, yaw = pose
            placed.append((model, x, y0, z, yaw))
            if name == "table":
                tables.append((model, x, z, yaw, len(plan.rects) - 1))

    # --- ceiling lights (shadow casters) and their fixtures
    n_lights = int(rng.integers(1, 3)) if cls_name == "bathroom" else int(rng.integers(2, 5))
    lights: list[list[float]] = []
    for _ in range(60):
        if len(lights) == n_lights:
            break
        pos = [rng.uniform(0.5, room[0] - 0.5), room[1] - 0.12, rng.uniform(0.5, room[2] - 0.5)]
        if all(math.hypot(pos[0] - q[0], pos[2] - q[2]) > 1.2 for q in lights):
            lights.append(pos)
    if not lights:
        lights.append([room[0] / 2, room[1] - 0.12, room[2] / 2])
    warm = rng.uniform(0.0, 1.0, size=len(lights))
    light_color = np.stack(
        [np.ones_like(warm), 0.92 + 0.05 * (1 - warm), 0.8 + 0.15 * (1 - warm)], 1
    )
    light_color *= 2.4 / len(lights) ** 0.5
    if config.furnish:
        for pos in lights:
            fixture = _M()
            fixture.cyl((0.0, 0.0, 0.0), 0.16, 0.02, "bulb")
            fixture.prims[0].shadow = False
            model = _Model("lamp", fixture.prims, (0.16, 0.16), 0.04, "ceiling")
            placed.append((model, pos[0], room[1] - 0.02, pos[2], 0.0))
    return _assemble(
        SCENE_CLASSES.index(cls_name),
        room,
        room_material,
        placed,
        materials,
        lambda slot: add_mat(pal.slot(slot)),
        np.array(lights, dtype=np.float64),
        light_color,
    )


def _assemble(
    scene_class: int,
    room: F64,
    room_material: I64,
    placed: list[tuple[_Model, float, float, float, float]],
    materials: list[Material],
    new_material: Callable[[str], int],
    lights: F64,
    light_color: F64,
) -> Scene:
    """Flatten posed object models into the primitive arrays of a :class:`Scene`."""
    kinds: list[int] = []
    local_c: list[tuple[float, float, float]] = []
    sizes: list[tuple[float, float, float]] = []
    axes: list[int] = []
    objs: list[int] = []
    mats: list[int] = []
    shadow: list[bool] = []
    shade_prims: list[int] = []
    for oi, (model, *_) in enumerate(placed):
        slot_mat: dict[str, int] = {}
        slots = _SLOTS.get(model.cls, {})
        for p in model.prims:
            if p.slot.startswith("#"):  # a fixed material index (hand-built scenes)
                mi = int(p.slot[1:])
            elif p.slot in _PER_PRIM_SLOTS or p.slot not in slot_mat:
                mi = new_material(slots.get(p.slot, p.slot))
                if p.slot not in _PER_PRIM_SLOTS:
                    slot_mat[p.slot] = mi
            else:
                mi = slot_mat[p.slot]
            if p.slot == "shade":
                shade_prims.append(len(kinds))
            kinds.append(p.kind)
            local_c.append(p.center)
            sizes.append(p.size)
            axes.append(p.axis if p.kind == CONE else 1)
            objs.append(oi)
            mats.append(mi)
            shadow.append(p.shadow)

    n = len(kinds)
    n_obj = len(placed)
    pose = np.array([[x, y0, z, yaw] for _, x, y0, z, yaw in placed], dtype=np.float64)
    pose = pose.reshape(n_obj, 4)
    obj = np.array(objs, dtype=np.int64)
    kind = np.array(kinds, dtype=np.int8)
    size = np.array(sizes, dtype=np.float64).reshape(n, 3)
    c, s_ = np.cos(pose[obj, 3]), np.sin(pose[obj, 3])
    r_obj = np.zeros((n, 3, 3))  # object -> world rotation about the vertical, per primitive
    r_obj[:, 0, 0], r_obj[:, 0, 2], r_obj[:, 1, 1] = c, s_, 1.0
    r_obj[:, 2, 0], r_obj[:, 2, 2] = -s_, c
    center = pose[obj, :3] + np.einsum("nij,nj->ni", r_obj, np.array(local_c).reshape(n, 3))
    frames = np.stack([_AXIS_FRAME[0], _AXIS_FRAME[1], _AXIS_FRAME[2]])
    rot = np.einsum("nij,nkj->nik", frames[np.array(axes, dtype=np.int64)], r_obj)  # F @ R^T
    rmax = np.maximum(size[:, 0], size[:, 1])
    half = np.where(
        (kind == CONE)[:, None], np.stack([rmax, size[:, 2], rmax], 1), size
    )  # local half extents of the bounding box
    prims = Primitives(
        kind=kind,
        center=center,
        rot=rot,
        size=size,
        half=half,
        obj=obj,
        material=np.array(mats, dtype=np.int64),
        shadow=np.array(shadow, dtype=bool),
    )
    corners = prims.corners()  # (N, 8, 3)
    object_box = np.zeros((n_obj, 2, 3))
    object_box[:, 0] = np.inf
    object_box[:, 1] = -np.inf
    np.minimum.at(object_box[:, 0], obj, corners.min(1))
    np.maximum.at(object_box[:, 1], obj, corners.max(1))
    object_class = [OBJECT_CLASSES.index(m.cls) for m, *_ in placed]
    fills = center[shade_prims].reshape(-1, 3)
    fill_color = np.tile(np.array([1.0, 0.85, 0.6]) * 0.35, (len(shade_prims), 1))
    return Scene(
        scene_class=scene_class,
        room=room,
        room_material=room_material,
        prims=prims,
        object_class=np.array(object_class, dtype=np.int64),
        object_box=object_box,
        materials=materials,
        lights=lights.reshape(-1, 3),
        light_color=light_color.reshape(-1, 3),
        fill_lights=fills,
        fill_color=fill_color,
        placed=[m.cls for m, *_ in placed],
    )


@dataclass(frozen=True)
class PrimitiveSpec:
    """One primitive of a hand-built scene (each becomes its own object of class ``cls``).

    ``kind``: "box" (``size`` = half extents), "cone" (``size`` = (r_bottom, r_top,
    half_height); a cylinder when the radii agree; ``axis`` 0/1/2 = along x/y/z) or
    "sphere" (``size[0]`` = radius). ``center`` in world metres; ``yaw`` about the vertical.
    """

    kind: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    cls: str = "table"
    yaw: float = 0.0
    axis: int = 1
    color: tuple[float, float, float] = (0.6, 0.5, 0.4)


def make_scene(
    room: tuple[float, float, float],
    primitives: tuple[PrimitiveSpec, ...] = (),
    lights: tuple[tuple[float, float, float], ...] = (),
    scene_class: str = "living_room",
) -> Scene:
    """A hand-built scene: an untextured room box, the given primitives and ceiling lights.

    For tests and debugging: every geometric quantity is known in closed form.
    """
    kinds = {"box": BOX, "cone": CONE, "sphere": SPHERE}
    for p in primitives:
        if p.kind not in kinds:
            raise input_error("PrimitiveSpec.kind", p.kind, one_of(kinds))
        if p.cls not in OBJECT_CLASSES:
            raise input_error("PrimitiveSpec.cls", p.cls, one_of(OBJECT_CLASSES))
    if scene_class not in SCENE_CLASSES:
        raise input_error("make_scene scene_class", scene_class, one_of(SCENE_CLASSES))
    room_a = np.array(room, dtype=np.float64)
    materials = [
        Material(SOLID, (0.7, 0.7, 0.65)),  # walls
        Material(SOLID, (0.45, 0.35, 0.3)),  # floor
        Material(SOLID, (0.9, 0.9, 0.9)),  # ceiling
    ]
    room_material = np.array([0, 0, 1, 2, 0, 0], dtype=np.int64)
    placed: list[tuple[_Model, float, float, float, float]] = []
    for p in primitives:
        materials.append(Material(SOLID, p.color))
        prim = _Prim(kinds[p.kind], (0.0, 0.0, 0.0), p.size, f"#{len(materials) - 1}", p.axis)
        model = _Model(p.cls, [prim], (p.size[0], p.size[0]), p.size[1], "free")
        placed.append((model, p.center[0], p.center[1], p.center[2], p.yaw))
    if not lights:
        lights = ((room[0] / 2, room[1] - 0.12, room[2] / 2),)
    light_arr = np.array(lights, dtype=np.float64)
    color = np.full((len(light_arr), 3), 2.0 / len(light_arr) ** 0.5)

    def no_slot(slot: str) -> int:
        raise AssertionError(f"hand-built scenes use fixed materials, not slot {slot!r}")

    return _assemble(
        SCENE_CLASSES.index(scene_class),
        room_a,
        room_material,
        placed,
        materials,
        no_slot,
        light_arr,
        color,
    )


def _place(
    rng: np.random.Generator, model: _Model, plan: _Plan, room: F64
) -> tuple[float, float, float, float] | None:
    """Find a pose (x, y0, z, yaw) for ``model`` by rejection sampling; None if none fits."""
    hx, hz = model.half
    for _ in range(40):
        if model.place == "mounted":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            if room[a_axis] < 2 * hx + 0.3:
                continue
            along = rng.uniform(hx + 0.15, room[a_axis] - hx - 0.15)
            y_lo, y_hi = model.mount_y - 0.1, model.mount_y + model.height + 0.1
            if any(
                along - hx < a1 + 0.1 and a0 < along + hx + 0.1 and y_lo < b1 and b0 < y_hi
                for a0, a1, b0, b1 in plan.wall_spans[wall]
            ):
                continue
            x, z, yaw = _wall_pose(room, wall, along, 0.0)
            if model.clearance > 0:  # keep the floor in front of a door free
                fx, fz, _ = _wall_pose(room, wall, along, model.clearance / 2)
                rect = _footprint(fx, fz, yaw, (hx, model.clearance / 2))
                if not plan.free(rect, margin=0.0):
                    continue
                plan.rects.append(rect)
            plan.wall_spans[wall].append((along - hx, along + hx, y_lo, y_hi))
            return x, model.mount_y, z, yaw
        if model.place == "floor":  # flat: furniture may stand on it, so it takes no room
            yaw = rng.integers(2) * math.pi / 2 + rng.normal(0, 0.05)
            ex = _footprint(0.0, 0.0, yaw, (hx, hz))[1]
            ez = _footprint(0.0, 0.0, yaw, (hx, hz))[3]
            if room[0] < 2 * ex + 0.6 or room[2] < 2 * ez + 0.6:
                continue
            x = rng.uniform(ex + 0.3, room[0] - ex - 0.3)
            z = rng.uniform(ez + 0.3, room[2] - ez - 0.3)
            return x, 0.0, z, yaw
        if model.place == "wall":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            if room[a_axis] < 2 * hx + 0.1:
                continue
            along = rng.uniform(hx + 0.05, room[a_axis] - hx - 0.05)
            x, z, yaw = _wall_pose(room, wall, along, hz + rng.uniform(0.01, 0.04))
        elif model.place == "corner":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            t = rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0), rng.uniform(0, 1)])
            along = hx + 0.1 + t * max(room[a_axis] - 2 * hx - 0.2, 0.0)
            x, z, _ = _wall_pose(room, wall, along, hz + rng.uniform(0.05, 0.3))
            yaw = rng.uniform(0, 2 * math.pi)
        else:
            x = rng.uniform(hx + 0.3, room[0] - hx - 0.3) if room[0] > 2 * hx + 0.6 else room[0] / 2
            z = rng.uniform(hz + 0.3, room[2] - hz - 0.3) if room[2] > 2 * hz + 0.6 else room[2] / 2
            yaw = rng.integers(4) * math.pi / 2 + rng.normal(0, 0.15)
        rect = _footprint(x, z, yaw, (hx, hz))
        if plan.free(rect):
            plan.rects.append(rect)
            return x, 0.0, z, yaw
    return None


def _place_chair_at_table(
    rng: np.random.Generator,
    scene: str,
    plan: _Plan,
    tables: list[tuple[_Model, float, float, float, int]],
    placed: list[tuple[_Model, float, float, float, float]],
) -> bool:
    """Pull a chair up to one of the tables, facing it; False if no side is free."""
    model = _chair(rng, "dining_room")
    for _ in range(12):
        tmodel, tx, tz, tyaw, rect_index = tables[int(rng.integers(len(tables)))]
        thx, thz = tmodel.half
        side = int(rng.integers(4))
        along = rng.uniform(-0.5, 0.5)
        # the seat's front edge sits a little under the table top
        pull = rng.uniform(-0.04, 0.12) + model.half[1]
        off = [
            (along * thx, thz + pull),
            (along * thx, -(thz + pull)),
            (thx + pull, along * thz),
            (-(thx + pull), along * thz),
        ][side]
        r = _rot_y(tyaw)
        ow = r @ np.array([off[0], 0.0, off[1]])
        x, z = tx + ow[0], tz + ow[2]
        yaw = math.atan2(-ow[0], -ow[2]) + rng.normal(0, 0.1)
        rect = _footprint(x, z, yaw, model.half)
        if plan.free(rect, margin=0.02, ignore=rect_index):
            plan.rects.append(rect)
            placed.append((model, x, 0.0, z, yaw))
            return True
    return False

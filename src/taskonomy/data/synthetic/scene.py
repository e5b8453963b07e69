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

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from taskonomy.data.synthetic.classes import (
    BOX,
    CHECKER,
    CONE,
    FACE_CEILING,
    FACE_FLOOR,
    NOISE,
    OBJECT_CLASSES,
    PAINTING,
    PLANKS,
    SCENE_CLASSES,
    SEMANTIC_CLASSES,
    SKY,
    SOLID,
    SPHERE,
    STRIPES,
    SURFACE_CLASSES,
    TILES,
    WOOD,
)
from taskonomy.data.synthetic.furniture import (
    BUILDERS,
    PER_PRIM_SLOTS,
    SLOTS,
    Model,
    ModelBuilder,
    Prim,
)
from taskonomy.data.synthetic.materials import Material, Palette, hsv
from taskonomy.data.synthetic.placement import (
    AXIS_FRAME,
    FloorPlan,
    place_chair_at_table,
    place_model,
)
from taskonomy.data.synthetic.rooms import (
    RECIPES,
    ROOM_SIZE,
    ROOM_STYLE,
    allowed_object_classes,
    draw_room_material,
)
from taskonomy.errors import input_error, one_of

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# ----------------------------------------------------------------------------------------------
# configuration


# The renderer's limits (image side in pixels, views per scene): `taskonomy generate` names them.
SIZE_RANGE = (16, 1024)
VIEWS_RANGE = (3, 64)


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
        if not isinstance(self.size, int) or not SIZE_RANGE[0] <= self.size <= SIZE_RANGE[1]:
            raise input_error(
                "SceneConfig.size",
                self.size,
                f"an int in [{SIZE_RANGE[0]}, {SIZE_RANGE[1]}]",
                "Use e.g. size=64.",
            )
        if not isinstance(self.views, int) or not VIEWS_RANGE[0] <= self.views <= VIEWS_RANGE[1]:
            raise input_error(
                "SceneConfig.views",
                self.views,
                f"an int in [{VIEWS_RANGE[0]}, {VIEWS_RANGE[1]}]",
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


def generate_scene(seed: int, config: SceneConfig) -> Scene:
    """Draw a furnished room from ``seed`` (geometry and materials on separate streams)."""
    ss = np.random.SeedSequence(int(seed))
    geo_ss, mat_ss = ss.spawn(2)
    rng = np.random.default_rng(geo_ss)
    pal = Palette(np.random.default_rng(mat_ss))

    cls_name = config.scene_class or SCENE_CLASSES[int(rng.integers(len(SCENE_CLASSES)))]
    lo, hi = ROOM_SIZE[cls_name]
    room = np.array([rng.uniform(lo, hi), rng.uniform(2.5, 3.1), rng.uniform(lo, hi)])

    materials: list[Material] = []

    def add_mat(m: Material) -> int:
        materials.append(m.flat() if not config.textures else m)
        return len(materials) - 1

    floors, walls = ROOM_STYLE[cls_name]
    floor_m = add_mat(draw_room_material(pal, floors[int(pal.rng.integers(len(floors)))]))
    wall_m = add_mat(draw_room_material(pal, walls[int(pal.rng.integers(len(walls)))]))
    accent = pal.rng.random() < 0.3
    accent_m = add_mat(pal.paint(sat=(0.2, 0.5))) if accent else wall_m
    ceil_m = add_mat(Material(SOLID, hsv(0.1, 0.03, pal.u(0.88, 0.96))))
    accent_face = int(pal.rng.choice([0, 1, 4, 5]))
    room_material = np.array(
        [accent_m if f == accent_face else wall_m for f in range(6)], dtype=np.int64
    )
    room_material[FACE_FLOOR] = floor_m
    room_material[FACE_CEILING] = ceil_m

    # --- objects
    placed: list[tuple[Model, float, float, float, float]] = []  # model, x, y0, z, yaw
    plan = FloorPlan(room)
    tables: list[tuple[Model, float, float, float, int]] = []
    if config.furnish:
        todo: list[str] = []
        for name, nmin, nmax, p in RECIPES[cls_name]:
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
                if place_chair_at_table(rng, cls_name, plan, tables, placed):
                    continue
            model = BUILDERS[name](rng, cls_name)
            pose = place_model(rng, model, plan, room)
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
            fixture = ModelBuilder()
            fixture.cyl((0.0, 0.0, 0.0), 0.16, 0.02, "bulb")
            fixture.prims[0].shadow = False
            model = Model("lamp", fixture.prims, (0.16, 0.16), 0.04, "ceiling")
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
    placed: list[tuple[Model, float, float, float, float]],
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
        slots = SLOTS.get(model.cls, {})
        for p in model.prims:
            if p.slot.startswith("#"):  # a fixed material index (hand-built scenes)
                mi = int(p.slot[1:])
            elif p.slot in PER_PRIM_SLOTS or p.slot not in slot_mat:
                mi = new_material(slots.get(p.slot, p.slot))
                if p.slot not in PER_PRIM_SLOTS:
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
    frames = np.stack([AXIS_FRAME[0], AXIS_FRAME[1], AXIS_FRAME[2]])
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
    placed: list[tuple[Model, float, float, float, float]] = []
    for p in primitives:
        materials.append(Material(SOLID, p.color))
        prim = Prim(kinds[p.kind], (0.0, 0.0, 0.0), p.size, f"#{len(materials) - 1}", p.axis)
        model = Model(p.cls, [prim], (p.size[0], p.size[0]), p.size[1], "free")
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


# Names other modules import from here (the class lists and ids live in ``classes.py``,
# materials in ``materials.py``; re-exported so ``scene`` stays the package's entry point).
__all__ = [
    "BOX",
    "CHECKER",
    "CONE",
    "FACE_CEILING",
    "FACE_FLOOR",
    "NOISE",
    "OBJECT_CLASSES",
    "PAINTING",
    "PLANKS",
    "SCENE_CLASSES",
    "SEMANTIC_CLASSES",
    "SKY",
    "SOLID",
    "SPHERE",
    "STRIPES",
    "SURFACE_CLASSES",
    "TILES",
    "WOOD",
    "Material",
    "PrimitiveSpec",
    "Primitives",
    "Scene",
    "SceneConfig",
    "allowed_object_classes",
    "generate_scene",
    "make_scene",
]

"""Object models built from primitives.

Local frame: floor at y = 0, front towards +z, centred on the footprint. Each builder
draws one model of its class; ``SLOTS`` names the palette material of each part.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from taskonomy.data.synthetic.classes import BOX, CONE, SPHERE


@dataclass
class Prim:
    kind: int
    center: tuple[float, float, float]
    size: tuple[float, float, float]  # box: half extents; cone: (r_bottom, r_top, half height)
    slot: str
    axis: int = 1  # cone axis in the object frame (0 = x, 1 = y, 2 = z)
    shadow: bool = True


@dataclass
class Model:
    cls: str
    prims: list[Prim]
    half: tuple[float, float]  # footprint half extents (x, z)
    height: float
    place: str  # "wall", "free", "corner", "mounted"
    mount_y: float = 0.0  # mounted objects: height of the model's y = 0 above the floor
    clearance: float = 0.0  # free floor needed in front (doors)


class ModelBuilder:
    """Collects primitives of one object model."""

    def __init__(self) -> None:
        self.prims: list[Prim] = []

    def box(self, c: tuple[float, float, float], h: tuple[float, float, float], slot: str) -> None:
        self.prims.append(Prim(BOX, c, h, slot))

    def cyl(
        self, c: tuple[float, float, float], r: float, hh: float, slot: str, axis: int = 1
    ) -> None:
        self.prims.append(Prim(CONE, c, (r, r, hh), slot, axis))

    def cone(
        self, c: tuple[float, float, float], r0: float, r1: float, hh: float, slot: str
    ) -> None:
        self.prims.append(Prim(CONE, c, (r0, r1, hh), slot))

    def sphere(self, c: tuple[float, float, float], r: float, slot: str) -> None:
        self.prims.append(Prim(SPHERE, c, (r, r, r), slot))


def _rug(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    w, d = rng.uniform(1.2, 2.6), rng.uniform(0.8, 1.8)
    m.box((0, 0.005, 0), (w / 2, 0.005, d / 2), "rug")
    m.prims[0].shadow = False
    return Model("rug", m.prims, (w / 2, d / 2), 0.01, "floor")


def _table(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
        return Model("table", m.prims, (r, r), h, "free")
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
    return Model("table", m.prims, (w / 2, d / 2), h, "free")


def _chair(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    if scene == "living_room" and rng.random() < 0.7:  # upholstered armchair
        w, d, sh = u(0.7, 0.9), u(0.7, 0.85), u(0.38, 0.45)
        m.box((0, sh / 2, 0.03), (w / 2 - 0.12, sh / 2, d / 2 - 0.03), "upholstery")
        m.box((0, 0.45, -d / 2 + 0.1), (w / 2, 0.45, 0.1), "upholstery")
        for sx in (-1, 1):
            m.box((sx * (w / 2 - 0.06), 0.3, 0.0), (0.06, 0.3, d / 2), "upholstery")
        m.box((0, sh + 0.06, 0.05), (w / 2 - 0.13, 0.06, d / 2 - 0.12), "cushion")
        return Model("chair", m.prims, (w / 2, d / 2), 0.9, "free")
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
    return Model("chair", m.prims, (w / 2, d / 2), sh + bh, "free")


def _sofa(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("sofa", m.prims, (w / 2, d / 2), bh, "wall")


def _bed(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("bed", m.prims, (w / 2 + 0.03, ln / 2 + 0.06), hb, "wall")


def _cabinet(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("cabinet", m.prims, (w / 2 + 0.01, d / 2 + 0.03), h, "wall")


def _shelf(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("shelf", m.prims, (w / 2, d / 2), h, "wall")


def _lamp(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    ph = u(1.2, 1.55)
    m.cyl((0, 0.015, 0), u(0.12, 0.16), 0.015, "metal")
    m.cyl((0, ph / 2, 0), 0.012, ph / 2, "metal")
    r0, r1, sh = u(0.17, 0.24), u(0.1, 0.14), u(0.11, 0.15)
    m.cone((0, ph + sh * 0.6, 0), r0, r1, sh, "shade")
    return Model("lamp", m.prims, (r0, r0), ph + 1.6 * sh, "corner")


def _plant(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("plant", m.prims, (max(rmax, rt), max(rmax, rt)), top + 0.45, "corner")


def _tv(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    sw, sh = u(0.9, 1.4), u(0.55, 0.8)
    cw, cd, ch = max(sw + u(0.1, 0.5), 1.0), u(0.38, 0.45), u(0.4, 0.55)
    m.box((0, ch / 2, 0), (cw / 2, ch / 2, cd / 2), "body")
    m.box((0, ch * 0.5, cd / 2 + 0.006), (cw / 2 - 0.02, ch * 0.35, 0.006), "front")
    m.box((0, ch + 0.06, -0.02), (0.08, 0.06, 0.06), "dark")
    y0 = ch + 0.1
    m.box((0, y0 + sh / 2, -0.02), (sw / 2, sh / 2, 0.025), "dark")
    m.box((0, y0 + sh / 2, 0.007), (sw / 2 - 0.02, sh / 2 - 0.02, 0.003), "screen")
    return Model("tv", m.prims, (cw / 2, cd / 2), y0 + sh, "wall")


def _toilet(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    bh = u(0.38, 0.42)
    m.cone((0, bh / 2, 0.05), u(0.12, 0.15), 0.19, bh / 2, "ceramic")
    m.cyl((0, bh + 0.015, 0.05), 0.2, 0.015, "seat")
    m.box((0, bh + 0.18, -0.2), (0.2, 0.2, 0.09), "ceramic")
    m.box((0, bh + 0.39, -0.2), (0.21, 0.015, 0.1), "ceramic")
    m.cyl((0.12, bh + 0.42, -0.2), 0.015, 0.01, "metal")
    return Model("toilet", m.prims, (0.21, 0.3), bh + 0.42, "wall")


def _bathtub(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    ln, w, h, t = u(1.5, 1.75), u(0.7, 0.8), u(0.5, 0.58), 0.07
    m.box((0, 0.05, 0), (ln / 2, 0.05, w / 2), "ceramic")  # bottom
    for sz in (-1, 1):
        m.box((0, h / 2, sz * (w / 2 - t / 2)), (ln / 2, h / 2, t / 2), "ceramic")
    for sx in (-1, 1):
        m.box((sx * (ln / 2 - t / 2), h / 2, 0), (t / 2, h / 2, w / 2 - t), "ceramic")
    m.cyl((ln / 2 - 0.2, h + 0.12, -w / 2 + 0.05), 0.015, 0.12, "metal")
    # local frame: the long side is along x, the back (against the wall) at -z
    return Model("bathtub", m.prims, (ln / 2, w / 2), h, "wall")


def _door(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("door", m.prims, (w / 2 + cw, 0.05), h + cw, "mounted", 0.0, clearance=0.9)


def _window(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
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
    return Model("window", m.prims, (w / 2 + f + 0.03, 0.06), h, "mounted", u(0.8, 1.05))


def _picture(rng: np.random.Generator, scene: str) -> Model:
    m = ModelBuilder()
    u = rng.uniform
    w, h = u(0.35, 1.0), u(0.3, 0.75)
    m.box((0, h / 2, 0.015), (w / 2, h / 2, 0.015), "frame")
    m.box((0, h / 2, 0.032), (w / 2 - 0.04, h / 2 - 0.04, 0.003), "canvas")
    for p in m.prims:
        p.shadow = False
    return Model("picture", m.prims, (w / 2, 0.04), h, "mounted", u(1.2, 1.5))


BUILDERS: dict[str, Callable[[np.random.Generator, str], Model]] = {
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
SLOTS: dict[str, dict[str, str]] = {
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
PER_PRIM_SLOTS = {"book"}

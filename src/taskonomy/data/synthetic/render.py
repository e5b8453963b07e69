"""Shading: procedural textures, ceiling lights with cast shadows, tone mapping to sRGB.

Textures are box-filtered analytically over each pixel's footprint on the surface (the
width a pixel covers at that depth and slant), so stripes and checkers fade to their mean
colour instead of aliasing at 64². Lighting is Lambertian: a hemispherical ambient term,
shadowed point lights near the ceiling with a soft distance falloff, unshadowed local fill
lights inside lamp shades, and emissive materials (lamp shades, window sky, screens).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taskonomy.data.synthetic.raycast import shadowed
from taskonomy.data.synthetic.scene import (
    CHECKER,
    NOISE,
    PAINTING,
    PLANKS,
    SKY,
    SOLID,
    STRIPES,
    TILES,
    WOOD,
    Material,
    Scene,
)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

AMBIENT = 0.32
LIGHT_FALLOFF = 3.0  # metres at which a ceiling light's irradiance halves
FILL_FALLOFF = 0.9
EXPOSURE = 1.25


# ----------------------------------------------------------------------------------------------
# noise and filtered patterns


def _hash(ix: I64, iy: I64, seed: int) -> F64:
    """Deterministic pseudo-random values in [0, 1) for integer lattice points."""
    h = (ix.astype(np.uint64) * np.uint64(0x9E3779B1)) ^ (
        iy.astype(np.uint64) * np.uint64(0x85EBCA77)
    )
    h ^= np.uint64((seed * 0xC2B2AE3D) & 0xFFFFFFFF)
    h &= np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)


def value_noise(x: F64, y: F64, seed: int) -> F64:
    """Smooth value noise with unit lattice spacing, values in [0, 1]."""
    fx, fy = np.floor(x), np.floor(y)
    tx, ty = x - fx, y - fy
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    a = _hash(ix, iy, seed)
    b = _hash(ix + 1, iy, seed)
    c = _hash(ix, iy + 1, seed)
    d = _hash(ix + 1, iy + 1, seed)
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty


def _fade(w: F64, period: F64 | float) -> F64:
    """Contrast left after box-filtering a pattern of ``period`` over a footprint ``w``."""
    return np.clip(1.5 - 1.5 * w / period, 0.0, 1.0)


def _filtered_noise(u: F64, v: F64, period: F64, w: F64, seed: int, octaves: int = 2) -> F64:
    out = np.zeros_like(u)
    amp, norm, p = 1.0, 0.0, period
    for o in range(octaves):
        n = value_noise(u / p, v / p, seed + 101 * o) - 0.5
        out += amp * _fade(w, p) * n
        norm += amp
        amp *= 0.5
        p = p / 2.7
    return 0.5 + out / norm * 1.6


def _square(x: F64, period: F64 | float, duty: F64 | float, w: F64) -> F64:
    """Box filter (width ``w``) of a square wave that is 1 on the first ``duty`` of each period."""
    w = np.maximum(w, 1e-9)

    def integral(s: F64) -> F64:
        q = s / period
        fl = np.floor(q)
        return period * (duty * fl + np.minimum(q - fl, duty))

    return (integral(x + w / 2) - integral(x - w / 2)) / w


def _mix(c1: F64, c2: F64, s: F64) -> F64:
    return c1 + (c2 - c1) * s


def albedo(
    materials: list[Material], mat: I64, uv: F64, footprint: F64, salt: int
) -> tuple[F64, F64]:
    """Reflectance and emitted radiance (3, n) of surface points with material ids ``mat``.

    ``uv`` (2, n): surface coordinates in metres; ``footprint`` (n,): metres one pixel spans
    on the surface (the box-filter width).
    """
    m = len(materials)
    c1 = np.array([x.c1 for x in materials]).reshape(m, 3).T  # (3, M)
    c2 = np.array([x.c2 for x in materials]).reshape(m, 3).T
    c3 = np.array([x.c3 for x in materials]).reshape(m, 3).T
    pattern = np.array([x.pattern for x in materials], dtype=np.int64)
    period = np.array([x.period for x in materials])
    aux = np.array([x.aux for x in materials])
    emit = np.array([x.emit for x in materials])

    out = np.zeros((3, len(mat)))
    pat = np.take(pattern, mat)
    for code in np.flatnonzero(np.bincount(pat)):  # the patterns present
        sel = np.flatnonzero(pat == code)
        mi = np.take(mat, sel)
        a, b = np.take(c1, mi, axis=1), np.take(c2, mi, axis=1)  # (3, S)
        u, v = np.take(uv[0], sel), np.take(uv[1], sel)
        w = np.take(footprint, sel)
        per = np.take(period, mi)
        seed = salt
        if code == SOLID:
            col = a
        elif code == STRIPES:
            coord = np.where(np.take(aux, mi) > 0.5, u, v)
            col = _mix(a, b, _square(coord, per, 0.5, w))
        elif code == CHECKER:
            su, sv = _square(u, per, 0.5, w), _square(v, per, 0.5, w)
            col = _mix(a, b, su + sv - 2 * su * sv)
        elif code == NOISE:
            col = _mix(a, b, np.clip(_filtered_noise(u + 13.1 * mi, v, per, w, seed), 0, 1))
        elif code == WOOD:
            n = value_noise(u / (8 * per) + 7.3 * mi, v / per, seed + 3) - 0.5
            rings = 0.5 + 0.5 * np.sin(2 * np.pi * (v / per + 1.5 * n)) * _fade(w, per)
            col = _mix(a, b, rings)
        elif code == TILES:
            duty = np.take(aux, mi)
            grout = 1 - (1 - _square(u, per, duty, w)) * (1 - _square(v, per, duty, w))
            iu, iv = np.floor(u / per).astype(np.int64), np.floor(v / per).astype(np.int64)
            tint = 0.9 + 0.2 * _hash(iu, iv, seed)
            col = _mix(a * tint, b, grout)
        elif code == PLANKS:
            row = np.floor(v / per).astype(np.int64)
            length = np.take(aux, mi)
            shift = _hash(row, np.zeros_like(row), seed) * length
            col_i = np.floor((u + shift) / length).astype(np.int64)
            tint = 0.82 + 0.36 * _hash(col_i, row, seed + 1)
            grain = value_noise((u + shift) / 0.6, v / 0.012, seed + 2) - 0.5
            g = np.clip(0.5 + 1.4 * grain * _fade(w, 0.036), 0, 1)
            gap = 1 - (1 - _square(v, per, 0.04, w)) * (1 - _square(u + shift, length, 0.01, w))
            col = _mix(a, b, g) * tint * (1 - 0.55 * gap)
        elif code == PAINTING:
            n1 = _filtered_noise(u + 3.7 * mi, v, per, w, seed)
            n2 = _filtered_noise(u + 31.7, v - 17.3 * mi, per * 1.7, w, seed + 5)
            wa = np.clip((n1 - 0.5) * 3, 0, 1)
            wb = np.clip((n2 - 0.45) * 3, 0, 1)
            col = _mix(_mix(a, np.take(c3, mi, axis=1), wa), b, wb)
        elif code == SKY:
            col = _mix(a, b, np.clip(v / np.maximum(per, 1e-6), 0, 1))
        else:
            col = a
        out[:, sel] = col
    out = np.clip(out, 0.0, 1.0)
    em = out * np.take(emit, mat)
    # emitters that do not reflect (sky seen through a window, screens)
    refl = np.where(np.take(pattern, mat) == SKY, 0.0, out)
    return refl, em


# ----------------------------------------------------------------------------------------------
# lighting


def shade(
    scene: Scene,
    points: F64,
    normals: F64,
    prim: I64,
    refl: F64,
    emitted: F64,
    shadows: bool,
) -> F64:
    """Linear radiance (3, n) of surface points (3, n) with normals (3, n)."""
    # ambient: light bounced around the room; a little stronger on up- and down-facing
    # surfaces (floor and ceiling see the brightest bounces) than on walls
    amb = AMBIENT * (0.9 + 0.15 * np.abs(normals[1]))  # (n,)
    irr = np.stack([amb, amb, amb])  # (3, n)
    for light, color in zip(scene.lights, scene.light_color, strict=True):
        to = light[:, None] - points  # (3, n)
        dist = np.sqrt(to[0] * to[0] + to[1] * to[1] + to[2] * to[2])
        cos = (normals[0] * to[0] + normals[1] * to[1] + normals[2] * to[2]) / dist
        lit = cos > 0
        gain = np.where(lit, cos, 0.0) / (1 + (dist / LIGHT_FALLOFF) ** 2)
        if shadows:
            idx = np.flatnonzero(lit)
            blocked = shadowed(
                scene.prims,
                np.take(points, idx, axis=1),
                np.take(normals, idx, axis=1),
                np.take(prim, idx),
                light,
            )
            gain[idx[blocked]] = 0.0
        irr += gain * color[:, None]
    for light, color in zip(scene.fill_lights, scene.fill_color, strict=True):
        to = light[:, None] - points
        dist = np.maximum(np.sqrt(to[0] * to[0] + to[1] * to[1] + to[2] * to[2]), 0.05)
        cos = np.maximum((normals[0] * to[0] + normals[1] * to[1] + normals[2] * to[2]) / dist, 0)
        irr += cos / (1 + (dist / FILL_FALLOFF) ** 2) * color[:, None]
    return refl * irr + emitted


def tone_map(radiance: F64) -> F64:
    """Linear radiance to display sRGB in [0, 1] (soft shoulder, gamma 2.2)."""
    x = EXPOSURE * radiance
    x = x / (1 + 0.25 * x)  # soft shoulder keeps emitters from clipping hard
    return np.clip(x, 0.0, 1.0) ** (1 / 2.2)

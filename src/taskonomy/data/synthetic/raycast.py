"""Exact, vectorized ray casting against the room box and the analytic primitives.

Every ray–primitive test runs on *pairs* (ray index, primitive index) in one numpy batch per
primitive kind, so the Python-level work does not grow with the number of pixels. Pairs come
from a conservative culling step that never drops a real hit:

- primary rays: each primitive's bounding box is projected (with near-plane clipping) into
  each view; only the pixels inside the projected rectangle are paired with it;
- shadow rays: the same projection from each ceiling light onto a horizontal plane (all
  occluders hang below the lights by construction), with the shading points binned on a grid.

The room is the inside of an axis-aligned box, handled in closed form for every ray.

Layout: vectors are stored component-major, ``(3, n)``, so every arithmetic step works on
contiguous 1-D arrays (numpy is several times slower on ``(n, 3)`` rows); gathers use
``np.take``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from taskonomy.data.synthetic.scene import BOX, CONE, SPHERE, Primitives

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

EPS_T = 1e-9  # smallest accepted ray parameter (camera rays start in free space)

# bounding-box corner c = 4 * bx + 2 * by + bz; the 12 edges join corners one bit apart
_EDGES = np.array(
    [(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit], dtype=np.int64
)  # (12, 2)


# ----------------------------------------------------------------------------------------------
# helpers


def _rotate(r: F64, v: F64) -> F64:
    """Rows of ``r`` (9, S) applied to vectors ``v`` (3, S): ``R @ v`` per column."""
    return np.stack([r[3 * i] * v[0] + r[3 * i + 1] * v[1] + r[3 * i + 2] * v[2] for i in range(3)])


def _rotate_t(r: F64, v: F64) -> F64:
    """``R.T @ v`` per column (local -> world)."""
    return np.stack([r[i] * v[0] + r[3 + i] * v[1] + r[6 + i] * v[2] for i in range(3)])


def expand_ranges(starts: I64, lengths: I64) -> tuple[I64, I64]:
    """Concatenate ``arange(s, s + n)`` for every (s, n); also return which range each came from."""
    lengths = np.maximum(lengths, 0)
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(lengths)), lengths)  # (total,)
    offsets = np.cumsum(lengths) - lengths  # (K,)
    pos = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return pos, which


# ----------------------------------------------------------------------------------------------
# intersection kernels on pairs (local frame, (3, S) arrays); ray parameter t, inf on a miss


def _box_t(ol: F64, dl: F64, half: F64, tmin: float) -> F64:
    tn = np.full(ol.shape[1], -np.inf, dtype=ol.dtype)
    tf = np.full(ol.shape[1], np.inf, dtype=ol.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(3):
            inv = 1.0 / dl[i]
            t1 = (-half[i] - ol[i]) * inv
            t2 = (half[i] - ol[i]) * inv
            tn = np.maximum(tn, np.minimum(t1, t2))
            tf = np.minimum(tf, np.maximum(t1, t2))
    t = np.where(tn > tmin, tn, tf)
    return np.where((tn <= tf) & (t > tmin), t, np.inf)


def _cone_t(ol: F64, dl: F64, size: F64, tmin: float) -> F64:
    r0, r1, h = size[0], size[1], size[2]
    k = (r1 - r0) / (2 * h)  # radius slope along the axis
    a = 0.5 * (r0 + r1)  # radius at local y = 0
    ox, oy, oz = ol
    dx, dy, dz = dl
    rho_o = a + k * oy
    qa = dx * dx + dz * dz - k * k * dy * dy
    qb = ox * dx + oz * dz - k * dy * rho_o
    qc = ox * ox + oz * oz - rho_o * rho_o
    disc = qb * qb - qa * qc
    best = np.full(ol.shape[1], np.inf, dtype=ol.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(disc, 0.0))
        for sgn in (-1.0, 1.0):
            t = (-qb + sgn * sq) / qa
            y = oy + t * dy
            ok = (disc >= 0) & (t > tmin) & (np.abs(y) <= h) & (a + k * y >= 0) & (t < best)
            best = np.where(ok, t, best)
        for sgn, r in ((-1.0, r0), (1.0, r1)):
            t = (sgn * h - oy) / dy
            x = ox + t * dx
            z = oz + t * dz
            ok = (t > tmin) & (x * x + z * z <= r * r) & (t < best)
            best = np.where(ok, t, best)
    return best


def _sphere_t(ol: F64, dl: F64, size: F64, tmin: float) -> F64:
    r = size[0]
    qa = dl[0] * dl[0] + dl[1] * dl[1] + dl[2] * dl[2]
    qb = ol[0] * dl[0] + ol[1] * dl[1] + ol[2] * dl[2]
    qc = ol[0] * ol[0] + ol[1] * ol[1] + ol[2] * ol[2] - r * r
    disc = qb * qb - qa * qc
    sq = np.sqrt(np.maximum(disc, 0.0))
    t0 = (-qb - sq) / qa
    t1 = (-qb + sq) / qa
    t = np.where(t0 > tmin, t0, t1)
    return np.where((disc >= 0) & (t > tmin), t, np.inf)


def _local(prims: Primitives, o: F64, d: F64, p: I64) -> tuple[F64, F64, F64, F64]:
    """Rays in the local frames of their primitives: (origins, directions, rot9, size).

    Computes in the precision of ``o`` (float64, or float32 for shadow rays).
    """
    center, rot9, size = prims.soa(o.dtype)
    rot = np.take(rot9, p, axis=1)  # (9, S)
    ol = _rotate(rot, o - np.take(center, p, axis=1))  # (3, S)
    dl = _rotate(rot, d)
    return ol, dl, rot, np.take(size, p, axis=1)


def intersect_pairs(prims: Primitives, o: F64, d: F64, pidx: I64, tmin: float = EPS_T) -> F64:
    """Ray parameter of the first hit of rays ``(o, d)`` (3, P) with primitives ``pidx`` (P,).

    ``inf`` where the ray misses; ``d`` need not be unit length (t is in units of ``|d|``).
    """
    t = np.full(len(pidx), np.inf, dtype=o.dtype)
    if len(pidx) == 0:
        return t
    kinds = np.take(prims.kind, pidx)
    groups = [np.flatnonzero(kinds == k) for k in (BOX, CONE, SPHERE)]  # pairs by kind
    order = np.concatenate(groups)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    os_, ds, ps = np.take(o, order, axis=1), np.take(d, order, axis=1), np.take(pidx, order)
    ts = np.empty(len(pidx), dtype=o.dtype)
    for i, fn in enumerate((_box_t, _cone_t, _sphere_t)):
        a, b = bounds[i], bounds[i + 1]
        if a == b:
            continue
        ol, dl, _, size = _local(prims, os_[:, a:b], ds[:, a:b], ps[a:b])
        ts[a:b] = fn(ol, dl, size, tmin)
    t[order] = ts
    return t


def room_exit(room: F64, o: F64, d: F64) -> tuple[F64, I64]:
    """Where rays from inside the room box leave it: (t, face = 2 * axis + upper)."""
    best = np.full(o.shape[1], np.inf)
    face = np.zeros(o.shape[1], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(3):
            up = d[i] > 0
            t = np.where(up, room[i] - o[i], -o[i]) / d[i]
            t = np.where(d[i] != 0, t, np.inf)
            better = t < best
            best = np.where(better, t, best)
            face = np.where(better, 2 * i + up, face)
    return best, face


# ----------------------------------------------------------------------------------------------
# surface attributes at hits


@dataclass
class SurfaceHits:
    """Geometry at the hit points of a set of rays (world frame, component-major)."""

    normal: F64  # (3, n) unit outward normal
    curvature: F64  # (2, n) signed principal curvatures k1 >= k2 (1/m), convex > 0
    uv: F64  # (2, n) texture coordinates (metres)
    face: I64  # (n,) face index within the primitive (box 0..5; cone 0 side, 1/2 caps)


def prim_surface(prims: Primitives, o: F64, d: F64, t: F64, pidx: I64) -> SurfaceHits:
    """Normal, principal curvatures, uv and face id where rays hit their primitives."""
    n = len(pidx)
    normal = np.zeros((3, n))
    curv = np.zeros((2, n))
    uv = np.zeros((2, n))
    face = np.zeros(n, dtype=np.int64)
    kinds = np.take(prims.kind, pidx)
    for kind in (BOX, CONE, SPHERE):
        sel = np.flatnonzero(kinds == kind)
        if sel.size == 0:
            continue
        p = np.take(pidx, sel)
        ts = np.take(t, sel)
        ol, dl, rot, size = _local(prims, np.take(o, sel, axis=1), np.take(d, sel, axis=1), p)
        x, y, z = ol + ts * dl  # local hit point
        if kind == BOX:
            rx, ry, rz = np.abs(x) / size[0], np.abs(y) / size[1], np.abs(z) / size[2]
            ax = np.where((rx >= ry) & (rx >= rz), 0, np.where(ry >= rz, 1, 2))
            coord = np.where(ax == 0, x, np.where(ax == 1, y, z))
            sgn = np.where(coord >= 0, 1.0, -1.0)
            nl = np.stack([(ax == 0) * sgn, (ax == 1) * sgn, (ax == 2) * sgn])
            face[sel] = 2 * ax + (sgn > 0)
            qx, qy, qz = x + size[0], y + size[1], z + size[2]  # corner-anchored coordinates
            uv[0, sel] = np.where(ax == 0, qz, qx)
            uv[1, sel] = np.where(ax == 1, qz, qy)
        elif kind == CONE:
            r0, r1, h = size
            k = (r1 - r0) / (2 * h)
            rho = 0.5 * (r0 + r1) + k * y
            dist = np.sqrt(x * x + z * z)
            s1 = np.sqrt(1 + k * k)
            is_cap = (h - np.abs(y)) < np.abs(dist - rho) / s1
            safe = np.maximum(rho, 1e-12)
            capn = np.where(y > 0, 1.0, -1.0)
            nl = np.stack(
                [
                    np.where(is_cap, 0.0, x / safe / s1),
                    np.where(is_cap, capn, -k / s1),
                    np.where(is_cap, 0.0, z / safe / s1),
                ]
            )
            face[sel] = np.where(is_cap, np.where(y > 0, 2, 1), 0)
            curv[0, sel] = np.where(is_cap, 0.0, 1.0 / (safe * s1))
            ang = np.arctan2(x, z) * (0.5 * (r0 + r1))
            uv[0, sel] = np.where(is_cap, x, ang)
            uv[1, sel] = np.where(is_cap, z, y + h)
        else:
            r = size[0]
            nl = np.stack([x / r, y / r, z / r])
            curv[0, sel] = 1.0 / r
            curv[1, sel] = 1.0 / r
            uv[0, sel] = np.arctan2(x, z) * r
            uv[1, sel] = y + r
        nw = _rotate_t(rot, nl)
        normal[:, sel] = nw / np.sqrt(nw[0] * nw[0] + nw[1] * nw[1] + nw[2] * nw[2])
    return SurfaceHits(normal, curv, uv, face)


def room_surface(room: F64, o: F64, d: F64, t: F64, face: I64) -> SurfaceHits:
    """Normals (pointing into the room), zero curvature and wall/floor uv of room hits."""
    axis = face // 2
    sgn = np.where(face % 2 == 1, -1.0, 1.0)
    normal = np.stack([(axis == i) * sgn for i in range(3)])
    p = o + t * d
    u = np.where(axis == 0, p[2], p[0])
    v = np.where(axis == 1, p[2], p[1])
    return SurfaceHits(normal, np.zeros((2, len(face))), np.stack([u, v]), face)


# ----------------------------------------------------------------------------------------------
# culling by projection


def project_rects(
    corners: F64, r_cw: F64, c: F64, f: tuple[float, float], pp: tuple[float, float], near: float
) -> tuple[F64, F64, F64, F64]:
    """Image-plane bounding rectangles of boxes given by ``corners`` (N, 8, 3) world points.

    The camera maps world ``X`` to ``r_cw @ (X - c)`` and projects ``u = f0 x / z + pp0``.
    Boxes are clipped at depth ``near``; fully clipped boxes get an empty rectangle
    (``u0 > u1``). Returns (u0, u1, v0, v1), each (N,).
    """
    pc = (corners - c) @ r_cw.T  # (N, 8, 3)
    z = pc[..., 2]
    a, b = pc[:, _EDGES[:, 0]], pc[:, _EDGES[:, 1]]  # (N, 12, 3)
    za, zb = a[..., 2], b[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (near - za) / (zb - za)
    cross = (za - near) * (zb - near) < 0  # (N, 12)
    pe = a + np.where(cross, s, 0.0)[..., None] * (b - a)
    pts = np.concatenate([pc, pe], axis=1)  # (N, 20, 3)
    ok = np.concatenate([z > near, cross], axis=1)
    zz = np.where(ok, pts[..., 2], 1.0)
    u = f[0] * pts[..., 0] / zz + pp[0]
    v = f[1] * pts[..., 1] / zz + pp[1]
    inf = np.inf
    return (
        np.where(ok, u, inf).min(1),
        np.where(ok, u, -inf).max(1),
        np.where(ok, v, inf).min(1),
        np.where(ok, v, -inf).max(1),
    )


def rect_pixels(u0: F64, u1: F64, v0: F64, v1: F64, h: int, w: int, base: I64) -> tuple[I64, I64]:
    """Flat pixel indices (``base + row * w + col``) inside each rectangle, and its index.

    Pixel ``(row, col)`` has its centre at ``(u, v) = (col + 0.5, row + 0.5)``.
    """
    pad = 1e-6
    with np.errstate(invalid="ignore"):
        c0 = np.clip(np.ceil(np.nan_to_num(u0 - 0.5 - pad, posinf=w, neginf=0)), 0, w)
        c1 = np.clip(np.floor(np.nan_to_num(u1 - 0.5 + pad, posinf=w, neginf=-1)), -1, w - 1)
        r0 = np.clip(np.ceil(np.nan_to_num(v0 - 0.5 - pad, posinf=h, neginf=0)), 0, h)
        r1 = np.clip(np.floor(np.nan_to_num(v1 - 0.5 + pad, posinf=h, neginf=-1)), -1, h - 1)
    c0, c1, r0, r1 = (a.astype(np.int64) for a in (c0, c1, r0, r1))
    nrow = np.where(c1 >= c0, r1 - r0 + 1, 0)
    rows, rect = expand_ranges(r0, nrow)  # one entry per (rectangle, row)
    pix, which = expand_ranges(base[rect] + rows * w + c0[rect], (c1 - c0 + 1)[rect])
    return pix, rect[which]


# ----------------------------------------------------------------------------------------------
# casting


@dataclass
class PrimaryHits:
    """First hits of a batch of rays (flat over views and pixels, component-major)."""

    t: F64  # (R,) ray parameter (camera-frame z when the ray's camera z component is 1)
    prim: I64  # (R,) primitive index, -1 = room surface
    surface: I64  # (R,) unique surface id: room face 0..5, else 6 + 6 * prim + face
    normal: F64  # (3, R) world
    curvature: F64  # (2, R)
    uv: F64  # (2, R)


def nearest(
    prims: Primitives, room: F64, o: F64, d: F64, cand_ray: I64, cand_prim: I64
) -> tuple[F64, I64, I64]:
    """Nearest hit of each ray (3, R) over the candidate pairs: (t, prim or -1, room face)."""
    t_room, room_face = room_exit(room, o, d)
    best = t_room.copy()
    t = intersect_pairs(
        prims, np.take(o, cand_ray, axis=1), np.take(d, cand_ray, axis=1), cand_prim
    )
    hit = np.flatnonzero(t < np.take(best, cand_ray))
    ray_hit, t_hit = np.take(cand_ray, hit), np.take(t, hit)
    np.minimum.at(best, ray_hit, t_hit)
    win = t_hit == np.take(best, ray_hit)
    prim = np.full(len(best), -1, dtype=np.int64)
    np.maximum.at(prim, ray_hit[win], np.take(cand_prim, hit[win]))  # deterministic tie-break
    return best, prim, room_face


def cast_primary(
    prims: Primitives, room: F64, o: F64, d: F64, cand_ray: I64, cand_prim: I64
) -> PrimaryHits:
    """Nearest hits of rays ``(o, d)`` (3, R) and their surface attributes."""
    t, prim, room_face = nearest(prims, room, o, d, cand_ray, cand_prim)
    r = len(t)
    normal = np.zeros((3, r))
    curv = np.zeros((2, r))
    uv = np.zeros((2, r))
    surface = np.zeros(r, dtype=np.int64)
    on_room = np.flatnonzero(prim < 0)
    if on_room.size:
        f = np.take(room_face, on_room)
        s = room_surface(
            room, np.take(o, on_room, axis=1), np.take(d, on_room, axis=1), np.take(t, on_room), f
        )
        normal[:, on_room], uv[:, on_room], surface[on_room] = s.normal, s.uv, f
    on_prim = np.flatnonzero(prim >= 0)
    if on_prim.size:
        p = np.take(prim, on_prim)
        s = prim_surface(
            prims, np.take(o, on_prim, axis=1), np.take(d, on_prim, axis=1), np.take(t, on_prim), p
        )
        normal[:, on_prim], curv[:, on_prim], uv[:, on_prim] = s.normal, s.curvature, s.uv
        surface[on_prim] = 6 + 6 * p + s.face
    return PrimaryHits(t, prim, surface, normal, curv, uv)


def cast_brute(
    prims: Primitives, room: F64, o: F64, d: F64, boxes: F64 | None = None
) -> tuple[F64, I64]:
    """Nearest hit (t, prim or -1) of a few rays (3, R) without image-space culling.

    With ``boxes`` (n_objects, 2, 3), the world bounding boxes of the objects that own the
    primitives (``prims.obj``, grouped by object), rays are first tested against the boxes
    and only then against the primitives of the boxes they cross.
    """
    nr, npr = o.shape[1], len(prims)
    if boxes is None or len(boxes) == 0:
        ray = np.repeat(np.arange(nr), npr)
        prim = np.tile(np.arange(npr), nr)
    else:
        tn = np.zeros((nr, len(boxes)))
        tf = np.full((nr, len(boxes)), np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(3):
                inv = 1.0 / d[i][:, None]
                t1 = (boxes[None, :, 0, i] - o[i][:, None]) * inv  # (R, n_obj)
                t2 = (boxes[None, :, 1, i] - o[i][:, None]) * inv
                tn = np.maximum(tn, np.minimum(t1, t2))
                tf = np.minimum(tf, np.maximum(t1, t2))
        ray_i, obj_j = np.nonzero(tn <= tf)
        first = np.searchsorted(prims.obj, np.arange(len(boxes)))
        count = np.bincount(prims.obj, minlength=len(boxes))
        prim, which = expand_ranges(first[obj_j], count[obj_j])
        ray = ray_i[which]
    t, p, _ = nearest(prims, room, o, d, ray, prim)
    return t, p


def shadow_candidates(
    prims: Primitives, points: F64, light: F64, grid: int = 64
) -> tuple[I64, I64]:
    """Candidate (point, occluder) pairs for shadow rays from ``points`` (3, M) to ``light``.

    Projects from the light onto the plane one metre below it; only points below the light
    and shadow-casting primitives (which all lie below the lights) take part.
    """
    occ = np.flatnonzero(prims.shadow)
    empty = np.zeros(0, dtype=np.int64)
    if occ.size == 0 or points.shape[1] == 0:
        return empty, empty
    # a camera at the light looking straight down: x' = x, y' = z, depth = light_y - y
    r_down = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    corners = prims.corners()[occ]
    u0, u1, v0, v1 = project_rects(corners, r_down, light, (1.0, 1.0), (0.0, 0.0), 1e-4)
    top = light[1] - corners[..., 1].max(1)  # depth below the light of each occluder's top
    keep = u0 <= u1
    occ, u0, u1, v0, v1, top = occ[keep], u0[keep], u1[keep], v0[keep], v1[keep], top[keep]
    if occ.size == 0:
        return empty, empty
    depth = light[1] - points[1]  # (M,)
    below = np.flatnonzero(depth > 1e-3)
    db = np.take(depth, below)
    qx = (np.take(points[0], below) - light[0]) / db
    qz = (np.take(points[2], below) - light[2]) / db
    lo_x, hi_x, lo_z, hi_z = u0.min(), u1.max(), v0.min(), v1.max()
    inside = (qx >= lo_x) & (qx <= hi_x) & (qz >= lo_z) & (qz <= hi_z)
    idx = below[inside]
    if idx.size == 0:
        return empty, empty
    sx = grid / max(hi_x - lo_x, 1e-9)
    sz = grid / max(hi_z - lo_z, 1e-9)
    bx = np.minimum(((qx[inside] - lo_x) * sx).astype(np.int64), grid - 1)
    bz = np.minimum(((qz[inside] - lo_z) * sz).astype(np.int64), grid - 1)
    bins = (bz * grid + bx).astype(np.int16)  # grid <= 181: bin ids fit int16 (radix sort)
    order = np.argsort(bins, kind="stable")  # radix sort on int16
    starts = np.zeros(grid * grid + 1, dtype=np.int64)
    np.cumsum(np.bincount(bins, minlength=grid * grid), out=starts[1:])
    # each occluder covers a block of bins; one contiguous run of sorted points per bin row
    ix0 = np.clip(((u0 - lo_x) * sx).astype(np.int64), 0, grid - 1)
    ix1 = np.clip(((u1 - lo_x) * sx).astype(np.int64), 0, grid - 1)
    iz0 = np.clip(((v0 - lo_z) * sz).astype(np.int64), 0, grid - 1)
    iz1 = np.clip(((v1 - lo_z) * sz).astype(np.int64), 0, grid - 1)
    rows, which = expand_ranges(iz0, iz1 - iz0 + 1)
    s = starts[rows * grid + ix0[which]]
    e = starts[rows * grid + ix1[which] + 1]
    pos, run = expand_ranges(s, e - s)
    sorted_pt = order[pos]  # index into idx / qx[inside]
    k = which[run]  # index into the kept occluders
    # exact rectangle test (bins are coarser), and the occluder must not lie below the point
    qxi, qzi = np.take(qx[inside], sorted_pt), np.take(qz[inside], sorted_pt)
    ok = (
        (qxi >= np.take(u0, k))
        & (qxi <= np.take(u1, k))
        & (qzi >= np.take(v0, k))
        & (qzi <= np.take(v1, k))
        & (np.take(depth, np.take(idx, sorted_pt)) > np.take(top, k))
    )
    return np.take(idx, sorted_pt[ok]), np.take(occ, k[ok])


def shadowed(prims: Primitives, points: F64, normals: F64, own_prim: I64, light: F64) -> B:
    """True where the segment from a surface point (3, M) to ``light`` is blocked.

    Only call for points whose normal faces the light: a convex primitive cannot then shadow
    its own surface, so a point's own primitive is skipped (no self-intersection acne).
    """
    out = np.zeros(points.shape[1], dtype=bool)
    pt, pr = shadow_candidates(prims, points, light)
    if pt.size == 0:
        return out
    keep = pr != np.take(own_prim, pt)
    pt, pr = pt[keep], pr[keep]
    # single precision is plenty for a yes/no visibility test (origins pushed off by 0.1 mm)
    p32 = (points + 1e-4 * normals).astype(np.float32)
    o = np.take(p32, pt, axis=1)
    d = light.astype(np.float32)[:, None] - o
    t = intersect_pairs(prims, o, d, pr, tmin=1e-5)
    out[pt[t < 1.0]] = True
    return out

"""Cameras: pinhole intrinsics, camera placement in a room and the multi-view tuples.

Camera convention (OpenCV): camera frame ``x`` right, ``y`` down, ``z`` forward; a camera is
``(R_wc, C)`` with ``X_world = R_wc @ X_cam + C`` (columns of ``R_wc``: right, down, forward
in world coordinates). Cameras never roll: ``right`` is horizontal. Pixel ``(row, col)``
looks through ``(u, v) = (col + 0.5, row + 0.5)``; ``K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]]``
with ``f = (W / 2) / tan(fov / 2)``.

View scheme (V views per scene; tuples are drawn among them, views can serve several tasks):

- views come in groups of three ``(a, b, c) = (3g, 3g + 1, 3g + 2)``:
  ``a`` is a free camera whose principal ray hits point ``P`` (at least ~1 m away);
  ``b`` stands 0.4–1.3 m away from ``a`` and fixates ``P`` (its principal ray hits ``P``,
  checked for visibility): **fixated pair** ``(a, b)``;
  ``c`` is a small motion of ``b`` (0.15–0.5 m, 8–25° of yaw) whose principal ray hits a
  different point that ``b`` also sees: **non-fixated overlapping pair** ``(b, c)``;
  ``(a, b, c)`` is an **egomotion triplet**.
- one leftover view (V = 3g + 1) fixates the last group's ``P`` again: fixated pairs with
  both ``a`` and ``b``; two leftover views form one more fixated pair.
- a fixation point is **shown** by its views: the principal point lies between the four
  centre pixels, so one of their rays must hit within two pixel footprints of ``P`` (a
  chair leg or lamp pole thinner than a pixel does not count as fixated at 32²).
- the sampler redraws candidates, then the whole group, until every constraint holds;
  only a room where none of ``GROUP_TRIES`` groups fit falls back to a dolly towards ``P``
  / a turn on the spot (no seeded scene of the tests does).
- **point matching**: positives are all fixated pairs (both principal rays hit the same 3D
  point); negatives are pairs whose principal rays hit points >= 0.3 m apart, taken first
  from the non-fixated pairs, then from other pairs in index order, as many as positives.

Pose label: ``[axis-angle rotation (3, radians), translation (3, metres)]`` of view ``j``'s
camera expressed in view ``i``'s camera frame: ``R_ij = R_wc_i^T R_wc_j``,
``t_ij = R_wc_i^T (C_j - C_i)``. Poses compose: ``T_ik = T_ij ∘ T_jk``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from taskonomy.data.synthetic.raycast import cast_brute
from taskonomy.data.synthetic.scene import OBJECT_CLASSES, Scene

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

UP = np.array([0.0, 1.0, 0.0])
MIN_SEPARATION = 0.3  # metres between principal-ray points of a point-matching negative
CANDIDATE_ROUNDS = 4  # batches of candidate cameras drawn before a group is redrawn
GROUP_TRIES = 8  # groups (anchor, fixated, non-fixated) drawn before falling back


def intrinsics(size: int, fov_deg: float) -> F64:
    """Pinhole matrix K (3, 3) of a square ``size`` image with field of view ``fov_deg``."""
    f = (size / 2) / math.tan(math.radians(fov_deg) / 2)
    return np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])


def look_rotation(forward: F64) -> F64:
    """Camera-to-world rotation (3, 3) looking along ``forward`` with no roll."""
    return look_rotations(np.asarray(forward, dtype=np.float64)[None])[0]


def look_rotations(forward: F64) -> F64:
    """Camera-to-world rotations (K, 3, 3) looking along ``forward`` (K, 3), no roll.

    Columns: right = forward × up (horizontal), down = forward × right, forward.
    """
    f = forward / np.linalg.norm(forward, axis=1, keepdims=True)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    n = np.sqrt(fx * fx + fz * fz)
    ok = n > 1e-9
    rx = np.where(ok, -fz / np.where(ok, n, 1.0), 1.0)  # (f × up) / |f × up| = (-fz, 0, fx) / n
    rz = np.where(ok, fx / np.where(ok, n, 1.0), 0.0)
    right = np.stack([rx, np.zeros_like(rx), rz], 1)
    down = np.stack([fy * rz, fz * rx - fx * rz, -fy * rx], 1)  # f × right
    return np.stack([right, down, f], axis=2)


def yaw_pitch(forward: F64) -> tuple[float, float]:
    """Yaw (about +y, 0 = +z) and pitch (positive up) of a viewing direction, radians."""
    f = forward / np.linalg.norm(forward)
    return math.atan2(f[0], f[2]), math.asin(float(np.clip(f[1], -1.0, 1.0)))


def direction(yaw: float, pitch: float) -> F64:
    """Unit viewing direction of a yaw and pitch."""
    return directions(np.array([yaw]), np.array([pitch]))[0]


def directions(yaw: F64, pitch: F64) -> F64:
    """Unit viewing directions (K, 3) of yaws and pitches (K,)."""
    cp = np.cos(pitch)
    return np.stack([np.sin(yaw) * cp, np.sin(pitch), np.cos(yaw) * cp], axis=1)


def relative_pose(r_i: F64, c_i: F64, r_j: F64, c_j: F64) -> F64:
    """Pose (6,) of camera j in camera i's frame: [axis-angle (3), translation (3)]."""
    return relative_poses(r_i[None], c_i[None], r_j[None], c_j[None])[0]


def relative_poses(r_i: F64, c_i: F64, r_j: F64, c_j: F64) -> F64:
    """Batched :func:`relative_pose`: rotations (K, 3, 3), centres (K, 3) -> poses (K, 6)."""
    if len(r_i) == 0:
        return np.zeros((0, 6))
    r_ij = np.einsum("kji,kjl->kil", r_i, r_j)  # R_i^T R_j
    t_ij = np.einsum("kji,kj->ki", r_i, c_j - c_i)  # R_i^T (C_j - C_i)
    return np.concatenate([Rotation.from_matrix(r_ij).as_rotvec(), t_ij], axis=1)


def compose_poses(p_ij: F64, p_jk: F64) -> F64:
    """Pose of k in i from the pose of j in i and of k in j (the egomotion identity)."""
    r_ij = Rotation.from_rotvec(p_ij[:3])
    r_jk = Rotation.from_rotvec(p_jk[:3])
    t = r_ij.apply(p_jk[3:]) + p_ij[3:]
    return np.concatenate([(r_ij * r_jk).as_rotvec(), t])


@dataclass
class ViewSet:
    """Cameras of one scene and the multi-view tuples among them."""

    rot: F64  # (V, 3, 3) camera-to-world rotations
    center: F64  # (V, 3) camera centres (world)
    target: F64  # (V, 3) world point hit by each principal ray
    fixated: list[tuple[int, int]] = field(default_factory=list)
    nonfixated: list[tuple[int, int]] = field(default_factory=list)
    triplets: list[tuple[int, int, int]] = field(default_factory=list)
    matches: list[tuple[int, int, int]] = field(default_factory=list)  # (i, j, label)


class _Sampler:
    def __init__(self, scene: Scene, rng: np.random.Generator, size: int, k_mat: F64) -> None:
        self.scene = scene
        self.rng = rng
        self.f = float(k_mat[0, 0])
        self.tan_half = (size / 2) / self.f
        # the four centre pixels' rays (z = 1): the principal ray runs between them
        off = np.array([-0.5, 0.5]) / self.f
        ox, oy = np.meshgrid(off, off)
        self.centre_rays = np.stack([ox.ravel(), oy.ravel(), np.ones(4)], 1)  # (4, 3)
        room = scene.room
        # free space: inside the room, away from walls and from every object's bounding box
        self.lo = np.array([0.3, 0.6, 0.3])
        self.hi = np.array([room[0] - 0.3, room[1] - 0.4, room[2] - 0.3])
        boxes = scene.object_box
        self.box_lo = boxes[:, 0] - 0.2 if len(boxes) else np.zeros((0, 3))
        self.box_hi = boxes[:, 1] + 0.2 if len(boxes) else np.zeros((0, 3))
        # furniture worth looking at (not rugs, doors, windows, pictures or ceiling lights)
        flat = [OBJECT_CLASSES.index(c) for c in ("rug", "door", "window", "picture")]
        furniture = ~np.isin(scene.object_class, flat) & (boxes[:, 0, 1] < 0.05)
        self.furniture = np.flatnonzero(furniture)
        self.prim_furniture = np.append(furniture[scene.prims.obj], False)  # [-1]: the room

    def free(self, c: F64) -> NDArray[np.bool_]:
        """Which candidate centres ``c`` (K, 3) are in free space."""
        inside = np.all((c >= self.lo) & (c <= self.hi), axis=1)
        if len(self.box_lo):
            hit = np.all(
                (c[:, None] >= self.box_lo[None]) & (c[:, None] <= self.box_hi[None]), axis=2
            ).any(1)
            inside &= ~hit
        return inside

    def cast(self, c: F64, d: F64) -> F64:
        """Distance along unit directions ``d`` (K, 3) from ``c`` (K, 3) to the first hit."""
        sc = self.scene
        return cast_brute(sc.prims, sc.room, c.T, d.T, sc.object_box)[0]

    def shows(self, c: F64, dirs: F64, p: F64) -> NDArray[np.bool_]:
        """Whether cameras at ``c`` (K, 3) looking along ``dirs`` (K, 3) show points ``p``
        (K, 3) at their centre pixels: one of the four rays hits within two footprints."""
        k = len(c)
        rd = np.einsum("kij,gj->kgi", look_rotations(dirs), self.centre_rays).reshape(-1, 3)
        rd /= np.linalg.norm(rd, axis=1, keepdims=True)
        cs = np.repeat(c, 4, axis=0)
        hit = cs + self.cast(cs, rd)[:, None] * rd
        miss = np.linalg.norm(hit - np.repeat(p, 4, axis=0), axis=1).reshape(k, 4).min(1)
        return miss <= 2 * np.linalg.norm(p - c, axis=1) / self.f + 0.01

    def interest(self, c: F64, dirs: F64) -> tuple[F64, F64]:
        """How much furniture candidate cameras (K, 3) looking along ``dirs`` (K, 3) see.

        A 3×3 grid of rays over the central part of each view: the share of rays that hit an
        object, plus 0.5 when the principal ray does, plus up to 0.5 for a principal ray
        distance of 1.2–3 m (not too close); -1 when the principal ray hits a surface closer
        than 1 m (a view filled by one wall or object). Returns (scores, principal distances).
        """
        k = len(c)
        g = np.array([-0.6, 0.0, 0.6]) * self.tan_half
        gx, gy = np.meshgrid(g, g)
        cam = np.stack([gx.ravel(), gy.ravel(), np.ones(9)], 1)  # (9, 3), index 4 = centre
        rots = look_rotations(dirs)  # (K, 3, 3)
        rd = np.einsum("kij,gj->kgi", rots, cam)
        rd /= np.linalg.norm(rd, axis=2, keepdims=True)
        sc = self.scene
        t, prim = cast_brute(
            sc.prims, sc.room, np.repeat(c, 9, axis=0).T, rd.reshape(-1, 3).T, sc.object_box
        )
        on_obj = self.prim_furniture[prim].reshape(k, 9)
        dist = t.reshape(k, 9)[:, 4]
        score = on_obj.mean(1) + 0.5 * on_obj[:, 4] + 0.5 * np.clip((dist - 1.2) / 1.8, 0, 1)
        return np.where(dist >= 1.0, score, -1.0), dist

    def anchor(self) -> tuple[F64, F64, F64]:
        """A free camera looking at something: (R_wc, C, principal point)."""
        k = 12
        rng, room = self.rng, self.scene.room
        c = np.stack(
            [
                rng.uniform(self.lo[0], self.hi[0], k),
                rng.uniform(0.9, min(1.8, self.hi[1]), k),
                rng.uniform(self.lo[2], self.hi[2], k),
            ],
            1,
        )
        floor_objs = self.furniture
        targets = np.stack(
            [rng.uniform(0, room[0], k), rng.uniform(0.3, 1.4, k), rng.uniform(0, room[2], k)], 1
        )
        if floor_objs.size:
            pick = floor_objs[rng.integers(floor_objs.size, size=k)]
            centre = self.scene.object_box[pick].mean(1)
            use = rng.random(k) < 0.7
            targets[use] = centre[use] + rng.normal(0, 0.15, (int(use.sum()), 3))
        to = targets - c
        yaw = np.arctan2(to[:, 0], to[:, 2]) + rng.normal(0, math.radians(8), k)
        pitch = np.arctan2(to[:, 1], np.hypot(to[:, 0], to[:, 2]))
        dirs = directions(yaw, np.clip(pitch, math.radians(-35), math.radians(12)))
        ok = np.flatnonzero(self.free(c))
        if ok.size == 0:  # no free candidate at all: stand in the middle of the room
            ci = np.array([room[0] / 2, min(1.5, self.hi[1]), room[2] / 2])
            di = dirs[0]
            dist = float(self.cast(ci[None], di[None])[0])
        else:
            score, dists = self.interest(c[ok], dirs[ok])
            p = c[ok] + dists[:, None] * dirs[ok]
            score = np.where(self.shows(c[ok], dirs[ok], p), score, score - 10.0)
            best = int(np.argmax(score))
            ci, di, dist = c[ok[best]], dirs[ok[best]], float(dists[best])
        return look_rotation(di), ci, ci + dist * di

    def fixate(self, c_a: F64, p: F64, also: F64 | None = None) -> tuple[F64, F64] | None:
        """A second camera 0.4-1.3 m from ``c_a`` whose centre pixels show ``p``: (R_wc, C);
        None when no candidate fits. ``also`` (M, 3): further centres fixating ``p`` that the
        new camera must form a fixated pair with too (>= 0.4 m away, > 8° apart at ``p``)."""
        k = 16
        rng = self.rng
        others = c_a[None] if also is None else np.concatenate([c_a[None], also])
        da = (p - others) / np.linalg.norm(p - others, axis=1, keepdims=True)  # (M, 3)
        for _ in range(CANDIDATE_ROUNDS):
            ang = rng.uniform(0, 2 * math.pi, k)
            rad = rng.uniform(0.4, 1.3, k)
            c = c_a[None] + np.stack(
                [rad * np.cos(ang), rng.uniform(-0.3, 0.3, k), rad * np.sin(ang)], 1
            )
            to_p = p[None] - c
            dist = np.linalg.norm(to_p, axis=1)
            d = to_p / dist[:, None]
            pitch = np.arcsin(np.clip(d[:, 1], -1, 1))
            angle = np.arccos(np.clip(d @ da.T, -1, 1)).min(1)
            base = np.linalg.norm(c[:, None] - others[None], axis=2).min(1)
            ok = (
                self.free(c)
                & (base >= 0.4)
                & (dist > 0.6)
                & (pitch > math.radians(-55))
                & (pitch < math.radians(30))
                & (angle > math.radians(8))
            )
            if ok.any():
                seen = self.cast(c, d)
                ok &= np.abs(seen - dist) <= 1e-6 * dist
            if ok.any():
                ok &= self.shows(c, d, np.broadcast_to(p, c.shape))
            good = np.flatnonzero(ok)
            if good.size:
                i = int(good[0])
                return look_rotation(d[i]), c[i]
        return None

    def dolly(self, c_a: F64, p: F64) -> tuple[F64, F64]:
        """Last resort for a fixated view: step towards ``p`` along a's clear line of sight."""
        steps = np.array([0.3, 0.2, 0.1, 0.05])
        c = c_a[None] + steps[:, None] * (p - c_a)[None]
        ok = np.flatnonzero(self.free(c))
        c_b = c[ok[0]] if ok.size else c[-1]
        return look_rotation(p - c_b), c_b

    def nonfixated(
        self, r_b: F64, c_b: F64, p_b: F64, size: int, k_mat: F64
    ) -> tuple[F64, F64] | None:
        """A small motion of camera b whose principal ray hits another point b sees; None
        when no candidate fits."""
        k = 16
        rng = self.rng
        yaw_b, pitch_b = yaw_pitch(r_b[:, 2])
        for _ in range(CANDIDATE_ROUNDS):
            ang = rng.uniform(0, 2 * math.pi, k)
            rad = rng.uniform(0.15, 0.5, k)
            c = c_b[None] + np.stack(
                [rad * np.cos(ang), rng.uniform(-0.1, 0.1, k), rad * np.sin(ang)], 1
            )
            dyaw = rng.choice([-1.0, 1.0], k) * rng.uniform(math.radians(8), math.radians(25), k)
            dpitch = rng.uniform(math.radians(-8), math.radians(8), k)
            dirs = directions(yaw_b + dyaw, np.clip(pitch_b + dpitch, -0.8, 0.4))
            ok = self.free(c)
            t = np.where(ok, self.cast(c, dirs), 0.0)
            pts = c + t[:, None] * dirs  # (k, 3) principal points of the candidates
            # b must see the point: in front, inside its image (with a margin), unoccluded
            pc = (pts - c_b) @ r_b  # (k, 3) camera-b coordinates
            with np.errstate(divide="ignore", invalid="ignore"):
                uv = pc[:, :2] / pc[:, 2:3] * k_mat[0, 0] + size / 2
            inside = (pc[:, 2] > 0.1) & np.all((uv > 0.1 * size) & (uv < 0.9 * size), axis=1)
            ok &= inside & (np.linalg.norm(pts - p_b, axis=1) >= MIN_SEPARATION)
            if ok.any():
                to = pts - c_b
                dist = np.linalg.norm(to, axis=1)
                seen = self.cast(np.repeat(c_b[None], k, 0), to / np.maximum(dist, 1e-12)[:, None])
                ok &= np.abs(seen - dist) <= 1e-6 * np.maximum(dist, 1.0)
            good = np.flatnonzero(ok)
            if good.size:
                i = int(good[0])
                return look_rotation(dirs[i]), c[i]
        return None

    def turn(self, r_b: F64, c_b: F64, p_b: F64) -> tuple[F64, F64]:
        """Last resort for a non-fixated view: turn on the spot (what c sees, b saw from the
        same centre), by the first angle whose principal point is far enough from b's."""
        yaw_b, pitch_b = yaw_pitch(r_b[:, 2])
        turns = np.radians([20.0, -20.0, 28.0, -28.0])
        dirs = directions(yaw_b + turns, np.full(len(turns), pitch_b))
        t = self.cast(np.repeat(c_b[None], len(turns), 0), dirs)
        sep = np.linalg.norm(c_b[None] + t[:, None] * dirs - p_b[None], axis=1)
        i = int(np.argmax(sep >= MIN_SEPARATION)) if (sep >= MIN_SEPARATION).any() else 0
        return look_rotation(dirs[i]), c_b.copy()

    def group(self, size: int, k_mat: F64, third: bool) -> list[tuple[F64, F64]]:
        """Cameras ``[a, b]`` (fixated) or ``[a, b, c]`` (also non-fixated) as (R_wc, C),
        redrawing the whole group until every constraint holds (``GROUP_TRIES`` times)."""
        for attempt in range(GROUP_TRIES):
            last = attempt == GROUP_TRIES - 1
            r_a, c_a, p = self.anchor()
            fb = self.fixate(c_a, p)
            if fb is None and not last:
                continue
            r_b, c_b = fb if fb is not None else self.dolly(c_a, p)
            if not third:
                return [(r_a, c_a), (r_b, c_b)]
            fc = self.nonfixated(r_b, c_b, p, size, k_mat)
            if fc is None and not last:
                continue
            return [(r_a, c_a), (r_b, c_b), fc if fc is not None else self.turn(r_b, c_b, p)]
        raise AssertionError("unreachable: the last try always returns")


def sample_views(scene: Scene, n_views: int, size: int, k_mat: F64, seed: int) -> ViewSet:
    """Place ``n_views`` cameras in ``scene`` following the view scheme of this module."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    s = _Sampler(scene, rng, size, k_mat)
    rots: list[F64] = []
    cents: list[F64] = []
    fixated: list[tuple[int, int]] = []
    nonfixated: list[tuple[int, int]] = []
    triplets: list[tuple[int, int, int]] = []
    last_anchor: tuple[F64, F64] | None = None  # (C_a, R_a) of the last group

    def add(r: F64, c: F64) -> int:
        rots.append(r)
        cents.append(c)
        return len(rots) - 1

    for _ in range(n_views // 3):
        (r_a, c_a), (r_b, c_b), (r_c, c_c) = s.group(size, k_mat, third=True)
        a, b, c = add(r_a, c_a), add(r_b, c_b), add(r_c, c_c)
        fixated.append((a, b))
        nonfixated.append((b, c))
        triplets.append((a, b, c))
        last_anchor = (c_a, r_a)
    rest = n_views % 3
    if rest == 1 and last_anchor is not None:
        a = len(rots) - 3
        c_a, r_a = last_anchor
        p = c_a + s.cast(c_a[None], r_a[None, :, 2])[0] * r_a[:, 2]
        fx = None
        for _ in range(GROUP_TRIES):  # the anchor is fixed: only candidates can be redrawn
            fx = s.fixate(c_a, p, also=cents[-2][None])
            if fx is not None:
                break
        r_x, c_x = fx if fx is not None else s.dolly(c_a, p)
        x = add(r_x, c_x)
        fixated += [(a, x), (a + 1, x)]
    elif rest == 2:
        (r_a, c_a), (r_b, c_b) = s.group(size, k_mat, third=False)
        a, b = add(r_a, c_a), add(r_b, c_b)
        fixated.append((a, b))

    rot = np.stack(rots)
    center = np.stack(cents)
    fwd = rot[:, :, 2]
    target = center + s.cast(center, fwd)[:, None] * fwd
    vs = ViewSet(rot, center, target, fixated, nonfixated, triplets)
    vs.matches = _match_pairs(vs)
    return vs


def _match_pairs(vs: ViewSet) -> list[tuple[int, int, int]]:
    pos = [(i, j, 1) for i, j in vs.fixated]
    fixed = set(vs.fixated)
    n = len(vs.center)
    cands = list(vs.nonfixated) + [
        (i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in vs.nonfixated
    ]
    neg: list[tuple[int, int, int]] = []
    for i, j in cands:
        if len(neg) >= len(pos):
            break
        if (i, j) in fixed:
            continue
        if np.linalg.norm(vs.target[i] - vs.target[j]) >= MIN_SEPARATION:
            neg.append((i, j, 0))
    return pos + neg

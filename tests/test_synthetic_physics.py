"""Physics checks of the synthetic bank at the sizes presets use (32² and 64²): every label is
measured against its definition on a small seeded bank, with quantities independent of how the
generator computes them (depth and normal labels, camera intrinsics and poses only).

Measured on 24 scenes x 6 views (views: 40 scenes x 7 views), before -> after the fixes:

- occlusion recall (cannot-meet pairs marked): 32² 56.9% -> 100%, 64² 70.5% -> 100%
  (5-10% depth steps: 4.9% -> 100%, 22.8% -> 100%);
- 2.5D segments shared across a >= 20% depth step: 32² 9.0% -> 0.16%, 64² 4.5% -> 0.04%;
- fixated views whose centre pixels show the fixation point: 32² 92.7%, 64² 95.8% -> 100%;
  fixated pairs below the 0.4 m baseline or 8° apart (100 seeds, 7 views): 17 and 30 of
  400 -> 0;
- principal curvature: mean square 6.09 (max 83.3 1/m) -> 0.0018 (max 0.987) with the
  analytic curvature of the primitives only (32²: 99% of pixels 0, 36% of views none);
  at the pixel scale (creases too): 32² 81% of pixels 0, every view some; crease pairs
  (tangent planes crossing between the rays, normals >= 30° apart) whose two pixels carry
  the crease's sign: 32² 87.0%, 64² 88.0% (the rest: pixels between two creases).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from numpy.typing import NDArray

from taskonomy.data.synthetic import RenderedScene, SceneConfig, render_scene
from taskonomy.data.synthetic import labels as L
from taskonomy.data.synthetic.raycast import cast_brute
from taskonomy.data.synthetic.scene import generate_scene
from taskonomy.data.synthetic.views import intrinsics, sample_views

Arr = NDArray[np.float64]
SIZES = (32, 64)
SCENES = 24
VIEWS = 6
# a pair "cannot meet" when each surface's tangent plane, extended to the other pixel's ray,
# misses the other surface by more than this share of its depth, on the same side
MEET_TOL = 0.02
MIN_FACING = 0.1  # tangent planes seen this edge-on (84°) are ill-conditioned: not judged


@cache
def bank(size: int) -> tuple[RenderedScene, ...]:
    return tuple(render_scene(seed, SceneConfig(size=size, views=VIEWS)) for seed in range(SCENES))


def _rays(k: Arr, size: int) -> Arr:
    """Camera-frame pixel-centre rays with z = 1, (3, H, W)."""
    c = (np.arange(size) + 0.5 - k[0, 2]) / k[0, 0]
    x, y = np.meshgrid(c, c)
    return np.stack([x, y, np.ones_like(x)])


def _depth(s: RenderedScene) -> Arr:
    """Metric z-depth (V, H, W) from the depth label."""
    return L.inverse_log_depth(s.arrays["depth_zbuffer"][:, 0], s.meta["z_max"])


def _pairs(a: Arr, axis: int) -> tuple[Arr, Arr]:
    """Neighbours along image ``axis`` (-1 horizontal, -2 vertical) of a (..., H, W) array."""
    n = a.shape[axis]
    return np.take(a, range(n - 1), axis=axis), np.take(a, range(1, n), axis=axis)


def plane_misses(s: RenderedScene) -> list[tuple[Arr, Arr, Arr, NDArray[np.bool_]]]:
    """Per neighbour axis (horizontal, vertical): how far each pixel's tangent plane misses
    the other pixel, and the relative depth jump.

    The inverse depth of a plane is affine along the image: ``1/z(r) = n·r / n·X`` for rays
    ``r`` with z = 1. Returns (d0, d1, rel, judged) with ``d0 = 1 - z_p w_q(r_p)`` (q's plane
    on p's ray, as a share of p's depth), ``d1 = z_q w_p(r_q) - 1``, ``rel = |z_p - z_q| /
    min(z_p, z_q)``, and ``judged``: both pixels valid and neither plane seen edge-on.
    """
    z = _depth(s)
    n = s.arrays["normal"].astype(np.float64)
    valid = s.arrays["mask_valid"][:, 0]
    r = _rays(s.arrays["_cam_K"], z.shape[-1])[None]  # (1, 3, H, W)
    ndx = (n * r * z[:, None]).sum(1)  # n · X (negative: normals face the camera)
    facing = np.abs((n * r).sum(1)) / np.linalg.norm(r, axis=1) > MIN_FACING
    out = []
    for axis in (-1, -2):
        (zp, zq), (np_, nq), (rp, rq) = _pairs(z, axis), _pairs(n, axis), _pairs(r, axis)
        (dp, dq), (fp, fq), (vp, vq) = _pairs(ndx, axis), _pairs(facing, axis), _pairs(valid, axis)
        d0 = 1 - zp * (nq * rp).sum(1) / dq
        d1 = zq * (np_ * rq).sum(1) / dp - 1
        out.append((d0, d1, np.abs(zp - zq) / np.minimum(zp, zq), fp & fq & vp & vq))
    return out


def cannot_meet(s: RenderedScene) -> list[tuple[NDArray[np.bool_], Arr]]:
    """Per neighbour axis: (pairs whose surfaces cannot meet (V, ...), relative depth jump).

    Between the two pixel rays, the tangent planes of p and q meet where ``w_p - w_q``
    changes sign (it is affine there); they cannot when it has the same sign at both rays
    and each plane misses the other pixel's point by more than MEET_TOL of its depth.
    Curved surfaces and creases (convex or concave) always change sign; parallel or
    receding surfaces separated by a step never do.
    """
    out = []
    for d0, d1, rel, judged in plane_misses(s):
        miss = np.minimum(np.abs(d0), np.abs(d1))
        out.append(((d0 * d1 > 0) & (miss > MEET_TOL) & judged, rel))
    return out


def occlusion_recall(size: int) -> tuple[float, float, int]:
    """(share of cannot-meet pairs with both pixels marked >= 0.5, same for 5-10% jumps, n)."""
    hit = tot = hit5 = tot5 = 0
    for s in bank(size):
        e = s.arrays["edge_occlusion"][:, 0]
        for axis, (cm, rel) in zip((-1, -2), cannot_meet(s), strict=True):
            ep, eq = _pairs(e, axis)
            marked = (ep >= 0.5) & (eq >= 0.5)
            mid = cm & (rel >= 0.05) & (rel < 0.10)
            hit, tot = hit + int((marked & cm).sum()), tot + int(cm.sum())
            hit5, tot5 = hit5 + int((marked & mid).sum()), tot5 + int(mid.sum())
    return hit / tot, hit5 / max(tot5, 1), tot


def segment_leak(size: int) -> tuple[float, int]:
    """Share of neighbour pairs across a >= 20% depth step that share a 2.5D segment.

    A step: a >= 20% depth change that neither pixel's tangent plane explains (misses by >
    MEET_TOL); a continuous plane seen edge-on changes depth that fast between pixels too.
    """
    same = tot = 0
    for s in bank(size):
        seg = s.arrays["segment_unsup25d"]
        valid = s.arrays["mask_valid"][:, 0]
        for axis, (d0, d1, rel, _) in zip((-1, -2), plane_misses(s), strict=True):
            (sp, sq), (vp, vq) = _pairs(seg, axis), _pairs(valid, axis)
            step = (rel >= 0.2) & (np.minimum(np.abs(d0), np.abs(d1)) > MEET_TOL) & vp & vq
            same, tot = same + int((step & (sp == sq)).sum()), tot + int(step.sum())
    return same / tot, tot


def _yaw(r: Arr) -> Arr:
    f = r[..., :, 2]
    return np.arctan2(f[..., 0], f[..., 2])


def pose_pairs(size: int) -> dict[str, list[float]]:
    """Baselines, fixation angles and non-fixated motions of the sampled pairs."""
    out: dict[str, list[float]] = {k: [] for k in ("fb", "fang", "fmiss", "nb", "nyaw")}
    for s in bank(size):
        a = s.arrays
        pose, cp = a["_cam_pose"], a["_center_point"]
        for i, j in a["fixated_pose/views"]:
            out["fb"].append(float(np.linalg.norm(pose[j, :3, 3] - pose[i, :3, 3])))
            fi, fj = pose[i, :3, 2], pose[j, :3, 2]
            out["fang"].append(math.degrees(math.acos(min(1.0, float(fi @ fj)))))
            out["fmiss"].append(float(np.linalg.norm(cp[i] - cp[j])))
        for i, j in a["nonfixated_pose/views"]:
            out["nb"].append(float(np.linalg.norm(pose[j, :3, 3] - pose[i, :3, 3])))
            d = (_yaw(pose[j, :3, :3]) - _yaw(pose[i, :3, :3]) + math.pi) % (2 * math.pi)
            out["nyaw"].append(abs(math.degrees(d - math.pi)))
    return out


def fixation_visible(size: int) -> tuple[float, int]:
    """Share of fixated views whose centre pixels show the fixation point.

    Shown: one of the 4 pixels around the principal point back-projects (depth label,
    intrinsics, pose) to within two pixel footprints (+1 cm) of the principal-ray point.
    """
    ok = tot = 0
    for s in bank(size):
        a = s.arrays
        k, pose, cp = a["_cam_K"], a["_cam_pose"], a["_center_point"]
        z = _depth(s)
        r = _rays(k, size)
        c = [size // 2 - 1, size // 2]
        for v in np.unique(a["fixated_pose/views"]):
            pts = (r[:, c][:, :, c] * z[v][c][:, c]).reshape(3, -1)  # (3, 4) camera frame
            world = pose[v, :3, :3] @ pts + pose[v, :3, 3:4]
            dist = float(np.linalg.norm(cp[v] - pose[v, :3, 3]))
            tol = 2 * dist / k[0, 0] + 0.01
            ok += bool(np.linalg.norm(world - cp[v][:, None], axis=0).min() <= tol)
            tot += 1
    return ok / tot, tot


def curvature_stats(size: int) -> dict[str, float]:
    vals, views_with, nviews = [], 0, 0
    for s in bank(size):
        k = s.arrays["principal_curvature"].astype(np.float64)
        m = s.arrays["mask_valid"][:, 0]
        for v in range(len(k)):
            vals.append(k[v][:, m[v]].ravel())
            views_with += bool((k[v][:, m[v]] != 0).any())
            nviews += 1
    x = np.concatenate(vals)
    nz = x[x != 0]
    return {
        "zero": float((x == 0).mean()),
        "views_none": 1 - views_with / nviews,
        "msq": float((x * x).mean()),
        "max": float(np.abs(x).max()),
        "sat": float((np.abs(nz) >= 0.99 * np.abs(x).max()).mean()) if nz.size else 0.0,
    }


# ----------------------------------------------------------------------------------------------
# the goals


@pytest.mark.parametrize("size", SIZES)
def test_occlusion_edges_mark_every_step_between_surfaces_that_cannot_meet(size: int) -> None:
    recall, recall_5_10, n = occlusion_recall(size)
    assert n > 1000  # the bank has plenty of steps to judge
    assert recall >= 0.95 and recall_5_10 >= 0.95


def test_tangent_plane_criterion_separates_steps_from_creases() -> None:
    """The measurement itself: a crease (floor meets wall) meets, a parallel step does not."""
    s = bank(32)[0]
    for cm, _ in cannot_meet(s):
        assert 0 < cm.mean() < 0.2
    # a hand-made pair: p on the plane z = 2, q on z = 2.1 (a 5% step), and a 90° crease
    r = np.array([[0.0, 0.05], [0.0, 0.0], [1.0, 1.0]])  # rays of two neighbouring pixels
    n_step = np.array([[0.0, 0.0], [0.0, 0.0], [-1.0, -1.0]])
    z_step = np.array([2.0, 2.1])
    n_crease = np.array([[0.0, -1.0], [0.0, 0.0], [-1.0, 0.0]]) / 1.0
    z_crease = np.array([2.0, 2.0])  # x = 0.1 plane meets z = 2 plane between the rays
    for nrm, z, meets in ((n_step, z_step, False), (n_crease, z_crease, True)):
        x = r * z
        ndx = (nrm * x).sum(0)
        d0 = 1 - z[0] * (nrm[:, 1] @ r[:, 0]) / ndx[1]
        d1 = z[1] * (nrm[:, 0] @ r[:, 1]) / ndx[0] - 1
        assert (d0 * d1 > 0) != meets


@pytest.mark.parametrize("size", SIZES)
def test_unsupervised_25d_segments_do_not_cross_depth_steps(size: int) -> None:
    leak, n = segment_leak(size)
    assert n > 1000 and leak <= 0.01


@pytest.mark.parametrize("size", SIZES)
def test_pose_pairs_in_the_bank_follow_the_view_scheme(size: int) -> None:
    p = {k: np.array(v) for k, v in pose_pairs(size).items()}
    assert (p["fb"] >= 0.4 - 1e-6).all() and (p["fang"] > 8).all()
    assert (p["fmiss"] <= 1e-3).all()  # both principal rays hit the same point
    assert (p["nb"] >= 0.15 - 1e-6).all() and (p["nyaw"] >= 8 - 1e-4).all()
    frac, n = fixation_visible(size)
    assert n >= 2 * SCENES and frac == 1.0


@pytest.mark.parametrize("size", SIZES)
def test_sampled_views_are_never_degenerate(size: int) -> None:
    """Many more scenes than the bank, sampler only; 7 views exercise the leftover view."""
    n_views = 7
    for seed in range(40):
        cfg = SceneConfig(size=size, views=n_views)
        sc = generate_scene(seed, cfg)
        k = intrinsics(size, cfg.fov_deg)
        vs = sample_views(sc, n_views, size, k, seed)
        for i, j in vs.fixated:
            assert np.linalg.norm(vs.center[j] - vs.center[i]) >= 0.4 - 1e-9, (seed, i, j)
            cos = float(vs.rot[i][:, 2] @ vs.rot[j][:, 2])
            assert math.degrees(math.acos(min(1.0, cos))) > 8, (seed, i, j)
            assert np.linalg.norm(vs.target[i] - vs.target[j]) <= 1e-6
        for i, j in vs.nonfixated:
            assert np.linalg.norm(vs.center[j] - vs.center[i]) >= 0.15 - 1e-9
        # the centre pixels' rays (half a pixel off the principal ray) show the fixation point
        off = np.array([-0.5, 0.5]) / k[0, 0]
        ox, oy = np.meshgrid(off, off)
        cam = np.stack([ox.ravel(), oy.ravel(), np.ones(4)])  # (3, 4)
        for v in {x for pair in vs.fixated for x in pair}:
            d = vs.rot[v] @ cam
            d /= np.linalg.norm(d, axis=0)
            o = np.repeat(vs.center[v][:, None], 4, 1)
            t, _ = cast_brute(sc.prims, sc.room, o, d, sc.object_box)
            miss = np.linalg.norm(o + t * d - vs.target[v][:, None], axis=0).min()
            assert miss <= 2 * np.linalg.norm(vs.target[v] - vs.center[v]) / k[0, 0] + 0.01


@pytest.mark.parametrize("size", SIZES)
def test_curvature_label_is_bounded_and_comparable(size: int) -> None:
    st = curvature_stats(size)
    assert st["max"] < 1.0  # tanh-compressed
    assert st["sat"] < 0.05  # curved pixels are not all saturated: the values carry shape
    # L2 loss of predicting 0 is the mean square: in range of the other dense [0, 1] labels
    assert 1e-4 < st["msq"] < 0.05
    assert st["zero"] < 0.95  # curved surfaces and creases are in view
    assert st["views_none"] < 0.01  # every room has creases


def crease_recall(size: int) -> tuple[float, int]:
    """(share of crease pairs whose two pixels both carry the crease's curvature, n).

    A crease pair: neighbours whose tangent planes (from the depth and normal labels) cross
    between the two rays and whose normals are >= 30° apart. It is convex towards the camera
    when the normals diverge along the step, ``(n_q - n_p) · (X_q - X_p) > 0`` (k1 > 0
    expected at both pixels), concave otherwise (k2 < 0); 0.02 is tanh(3 cm · 0.67 / m).
    """
    hit = tot = 0
    for s in bank(size):
        k = s.arrays["principal_curvature"].astype(np.float64)
        z = _depth(s)
        n = s.arrays["normal"].astype(np.float64)
        x = _rays(s.arrays["_cam_K"], z.shape[-1])[None] * z[:, None]
        for axis, (d0, d1, _, judged) in zip((-1, -2), plane_misses(s), strict=True):
            (np_, nq), (xp, xq) = _pairs(n, axis), _pairs(x, axis)
            crease = judged & (d0 * d1 < 0) & ((np_ * nq).sum(1) < math.cos(math.radians(30)))
            convex = ((nq - np_) * (xq - xp)).sum(1) > 0
            (k1p, k1q), (k2p, k2q) = _pairs(k[:, 0], axis), _pairs(k[:, 1], axis)
            ok = np.where(convex, (k1p > 0.02) & (k1q > 0.02), (k2p < -0.02) & (k2q < -0.02))
            hit, tot = hit + int((ok & crease).sum()), tot + int(crease.sum())
    return hit / tot, tot


@pytest.mark.parametrize("size", SIZES)
def test_curvature_marks_creases_at_every_size(size: int) -> None:
    recall, n = crease_recall(size)
    assert n > 10_000
    assert recall >= 0.85

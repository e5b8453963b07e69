"""The synthetic renderer's labels are right: layout per the task registry, and per label a
physical consistency check against the exact geometry (or against the RGB for 2D labels)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage as ndi

from taskonomy.data.synthetic import (
    OBJECT_CLASSES,
    SEMANTIC_CLASSES,
    PrimitiveSpec,
    RenderedScene,
    SceneConfig,
    allowed_object_classes,
    make_scene,
    render_scene,
    render_views,
)
from taskonomy.data.synthetic import labels as L
from taskonomy.data.synthetic.views import look_rotations
from taskonomy.tasks import get_task, list_tasks

SIZE = 48
V = 6
Arr = NDArray[np.float64]


@cache
def scene(seed: int, size: int = SIZE, views: int = V, **kw: object) -> RenderedScene:
    return render_scene(seed, SceneConfig(size=size, views=views, **kw))  # type: ignore[arg-type]


def rays(k: Arr, size: int) -> Arr:
    """Camera-frame pixel-centre rays with z = 1, (3, H, W)."""
    c = (np.arange(size) + 0.5 - k[0, 2]) / k[0, 0]
    x, y = np.meshgrid(c, c)
    return np.stack([x, y, np.ones_like(x)])


def points_from_depth(s: RenderedScene, v: int) -> Arr:
    """Camera-frame 3D points (3, H, W) back-projected from the depth_zbuffer label."""
    z = L.inverse_log_depth(s.arrays["depth_zbuffer"][v, 0], s.meta["z_max"])
    return rays(s.arrays["_cam_K"], z.shape[-1]) * z


def single_surface(surface: NDArray[np.int64], radius: int = 1) -> NDArray[np.bool_]:
    """Pixels whose (2r+1)² neighbourhood lies on one surface (no edge, crease or seam)."""
    w = 2 * radius + 1
    lo = ndi.minimum_filter(surface, size=w, mode="nearest")
    hi = ndi.maximum_filter(surface, size=w, mode="nearest")
    inner = np.zeros_like(surface, dtype=bool)
    inner[radius:-radius, radius:-radius] = True
    return (lo == hi) & inner


def look(eye: tuple[float, float, float], at: tuple[float, float, float]) -> tuple[Arr, Arr]:
    """One camera (rot (1, 3, 3), centre (1, 3)) at ``eye`` looking at ``at``."""
    e = np.array(eye, dtype=float)
    return look_rotations((np.array(at) - e)[None]), e[None]


def project(k: Arr, rot: Arr, c: Arr, x: Arr) -> Arr:
    """Pixel (u, v) of world point x for camera (rot, c)."""
    p = rot.T @ (x - c)
    return (k @ (p / p[2]))[:2]


# ----------------------------------------------------------------------------------------------
# layout of every task's label (registry-parametrized)

LABELLED = [t for t in list_tasks() if get_task(t).label is not None]


@pytest.mark.parametrize("name", LABELLED)
def test_label_layout_matches_the_task_registry(name: str) -> None:
    s = scene(0)
    spec = get_task(name)
    lab = spec.label
    assert lab is not None
    sizes = {
        "H": SIZE,
        "W": SIZE,
        "n_object_classes": s.meta["n_object_classes"],
        "n_scene_classes": s.meta["n_scene_classes"],
        "n_semantic_classes": s.meta["n_semantic_classes"],
    }
    shape = lab.resolve(sizes)
    arr = s.arrays[name]
    if spec.views == 1:
        assert arr.shape == (V, *shape)
    else:  # multi-view: one label per tuple of view indices
        views = s.arrays[f"{name}/views"]
        assert views.dtype == np.int64 and views.shape == (len(arr), spec.views)
        assert len(arr) >= 1 and arr.shape == (len(views), *shape)
        assert views.min() >= 0 and views.max() < V
        assert all(len(set(row)) == spec.views for row in views.tolist())
    assert arr.dtype == np.dtype(lab.dtype)
    if arr.dtype.kind == "f":
        assert np.isfinite(arr).all()
    if lab.low is not None:
        assert arr.min() >= lab.low
    if lab.high is not None:
        assert arr.max() <= lab.high
    if lab.masked:
        m = s.arrays["mask_valid"]
        assert m.dtype == np.bool_ and m.shape == (V, 1, SIZE, SIZE)
    inp = s.arrays[spec.input]  # the image the task's network sees
    assert inp.shape == (V, 3, SIZE, SIZE) and inp.dtype == np.float32
    assert inp.min() >= 0.0 and inp.max() <= 1.0


def test_open_ended_class_labels_index_their_class_lists() -> None:
    s = scene(0)
    assert s.arrays["jigsaw"].max() < len(s.meta["jigsaw_permutations"])
    assert s.arrays["class_scene"].max() < s.meta["n_scene_classes"]
    assert s.arrays["segment_semantic"].max() < s.meta["n_semantic_classes"]
    assert s.meta["semantic_classes"] == list(SEMANTIC_CLASSES)
    assert len(OBJECT_CLASSES) >= 8 and s.meta["n_scene_classes"] >= 5


# ----------------------------------------------------------------------------------------------
# depth, normals, reshading, curvature


def test_log_depths_invert_to_metric_z_and_distance() -> None:
    s = scene(1)
    a, zmax = s.arrays, s.meta["z_max"]
    z = L.inverse_log_depth(a["depth_zbuffer"][:, 0], zmax)
    np.testing.assert_allclose(z, a["_z"][:, 0], rtol=1e-5)
    d = L.inverse_log_depth(a["depth_euclidean"][:, 0], zmax)
    ray_len = np.linalg.norm(rays(a["_cam_K"], SIZE), axis=0)
    np.testing.assert_allclose(d, z * ray_len, rtol=1e-5)
    assert (z > 0.2).all() and (z < 12).all()  # inside a room, outside every object


@pytest.mark.parametrize("seed", [2, 3])
def test_normals_are_unit_face_the_camera_and_match_the_depth_gradient(seed: int) -> None:
    s = scene(seed)
    a = s.arrays
    r = rays(a["_cam_K"], SIZE)
    for v in range(V):
        n = a["normal"][v].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(n, axis=0), 1.0, atol=1e-5)
        assert ((n * r).sum(0) < 0).all()  # facing the camera
        p = points_from_depth(s, v)
        du = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
        dv = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]
        est = np.cross(dv, du, axis=0)  # faces the camera for x right, y down
        est /= np.linalg.norm(est, axis=0)
        cos = (est * n[:, 1:-1, 1:-1]).sum(0)
        inner = single_surface(a["_surface"][v])[1:-1, 1:-1]
        flat = inner & (np.abs(a["principal_curvature"][v]).max(0)[1:-1, 1:-1] == 0)
        assert flat.sum() > 0.3 * flat.size
        assert cos[flat].min() > 0.999
        assert np.median(cos[inner]) > 0.999


def test_reshading_is_the_normal_lit_by_a_point_light_at_the_camera() -> None:
    s = scene(4)
    a = s.arrays
    r = rays(a["_cam_K"], SIZE)
    r = r / np.linalg.norm(r, axis=0)
    expect = np.clip(-(a["normal"].astype(np.float64) * r[None]).sum(1), 0, 1)
    np.testing.assert_allclose(a["reshading"][:, 0], expect, atol=1e-5)
    # a surface seen head-on is brightest, a grazing one dark
    assert a["reshading"].max() > 0.95 and a["reshading"].min() < 0.4


def _curved_scene() -> RenderedScene:
    sc = make_scene(
        (4.0, 2.8, 5.0),
        (
            PrimitiveSpec("sphere", (2.4, 1.1, 3.4), (0.4, 0.4, 0.4), cls="plant"),
            PrimitiveSpec("cone", (1.2, 0.6, 3.6), (0.3, 0.3, 0.6), cls="lamp"),
            PrimitiveSpec("cone", (3.2, 0.4, 2.6), (0.35, 0.15, 0.4), cls="plant"),
            PrimitiveSpec("box", (2.0, 0.3, 2.4), (0.3, 0.3, 0.2), cls="cabinet", yaw=0.5),
        ),
    )
    rot, c = look((2.0, 1.5, 0.6), (2.0, 0.8, 3.0))
    return render_views(sc, rot, c, SceneConfig(size=64))


def _neighbour_surfaces(surface: NDArray[np.int64]) -> NDArray[np.int64]:
    """(H, W, 4) surface ids of each pixel's 4 neighbours (-1 off the image)."""
    out = np.full((*surface.shape, 4), -1, dtype=surface.dtype)
    out[:, :-1, 0], out[:, 1:, 1] = surface[:, 1:], surface[:, :-1]
    out[:-1, :, 2], out[1:, :, 3] = surface[1:, :], surface[:-1, :]
    return out


def test_curvature_is_exact_on_smooth_surfaces_and_marks_creases() -> None:
    s = _curved_scene()
    lab = s.arrays["principal_curvature"][0]
    assert np.abs(lab).max() < 1  # bounded label: tanh(3 cm * k)
    np.testing.assert_allclose(lab, np.tanh(L.CURVATURE_SCALE * L.curvature_from_label(lab)))
    k = L.curvature_from_label(lab)
    surf = s.arrays["_surface"][0]
    inner = single_surface(surf)
    sphere, cyl_side, cyl_top, box = surf == 6, surf == 12, surf == 14, surf >= 24
    assert sphere.sum() > 100 and (cyl_side & inner).sum() > 50 and (box & inner).sum() > 50
    # the sphere touches nothing: no difference crosses its silhouette, every pixel is exact
    np.testing.assert_allclose(k[:, sphere], 1 / 0.4, rtol=1e-5)  # 1/r, 1/r
    np.testing.assert_allclose(k[0, cyl_side & inner], 1 / 0.3, rtol=1e-5)  # cylinder: 1/r, 0
    np.testing.assert_allclose(k[1, cyl_side & inner], 0.0, atol=1e-3)
    flat = inner & (cyl_top | box | (surf < 6))
    assert (k[:, flat] == 0).all()  # planes
    # cone side: cos(half-angle) / distance to the axis, between the end radii's values
    cone = (surf == 18) & inner
    kc = k[0, cone]
    slope = (0.15 - 0.35) / 0.8
    assert cone.sum() > 20
    assert kc.min() >= 1 / (0.35 * math.hypot(1, slope)) * 0.95
    assert kc.max() <= 1 / (0.15 * math.hypot(1, slope)) * 1.05
    assert (k[0] >= k[1]).all()
    # creases at the pixel scale: a box's edges are convex towards the camera (k1 of a few
    # 1/m: a right angle over ~2 footprints of ~6 cm), the room's wall-floor edges concave
    nb = _neighbour_surfaces(surf)
    box_edge = box & ((nb >= 24) & (nb != surf[..., None])).any(-1)
    room_edge = (surf < 6) & ((nb >= 0) & (nb < 6) & (nb != surf[..., None])).any(-1)
    assert box_edge.sum() > 30 and room_edge.sum() > 100
    assert np.median(k[0, box_edge]) > 5 and (k[0, box_edge] > 1).mean() > 0.95
    assert np.median(k[1, room_edge]) < -5 and (k[1, room_edge] < -1).mean() > 0.95


def test_curvature_matches_the_derivative_of_the_normals() -> None:
    """Shape operator from finite differences of the normal and depth labels."""
    s = _curved_scene()
    a = s.arrays
    n = a["normal"][0].astype(np.float64)
    p = points_from_depth(s, 0)
    k = L.curvature_from_label(a["principal_curvature"][0])
    inner = single_surface(a["_surface"][0], radius=2) & (k[0] > 0)
    rows, cols = np.nonzero(inner)
    assert len(rows) > 100
    errs = []
    for i, j in zip(rows, cols, strict=True):
        jx = np.stack([p[:, i, j + 1] - p[:, i, j - 1], p[:, i + 1, j] - p[:, i - 1, j]], 1)
        jn = np.stack([n[:, i, j + 1] - n[:, i, j - 1], n[:, i + 1, j] - n[:, i - 1, j]], 1)
        shape_op = np.linalg.lstsq(jx, jn, rcond=None)[0]  # dN = S dX in the pixel basis
        est = np.sort(np.linalg.eigvals(shape_op).real)[::-1]
        errs.append(np.abs(est - k[:, i, j]).max() / k[0, i, j])
    assert np.median(errs) < 0.05 and np.quantile(errs, 0.9) < 0.15


# ----------------------------------------------------------------------------------------------
# occlusion edges, keypoints, texture edges


def _box_scene(textured: bool = False) -> RenderedScene:
    sc = make_scene(
        (4.0, 2.8, 5.0), (PrimitiveSpec("box", (2.0, 0.5, 3.2), (0.4, 0.5, 0.3), cls="cabinet"),)
    )
    rot, c = look((2.1, 1.4, 0.5), (2.0, 0.7, 4.0))
    return render_views(sc, rot, c, SceneConfig(size=64, textures=textured))


def test_occlusion_edges_sit_on_depth_jumps_not_on_creases() -> None:
    s = _box_scene()
    e = s.arrays["edge_occlusion"][0, 0]
    surf = s.arrays["_surface"][0]
    z = s.arrays["_z"][0, 0]
    box = surf >= 6
    # silhouette: a box pixel next to a room pixel more than 20% farther away
    sil = np.zeros_like(box)
    outline = np.zeros_like(box)  # box pixels next to room pixels, with or without a jump
    for axis in (0, 1):
        for shift in (1, -1):
            nb_box = np.roll(box, shift, axis)
            sil |= box & ~nb_box & (np.roll(z, shift, axis) > 1.2 * z)
            outline |= box != nb_box
    for m in (sil, outline):
        m[[0, -1], :] = False
        m[:, [0, -1]] = False
    assert sil.sum() > 20 and e[sil].min() >= 0.5
    # creases (floor meets wall, wall meets wall, box face meets box face) are no occlusion
    far = ndi.distance_transform_edt(~outline) > 3
    creases = (surf != np.roll(surf, 1, 0)) | (surf != np.roll(surf, 1, 1))
    creases &= far
    assert creases.sum() > 20
    assert e[far].max() <= 0.02


@pytest.mark.parametrize("seed", [5, 6])
def test_occlusion_edges_follow_depth_discontinuities_in_random_rooms(seed: int) -> None:
    s = scene(seed)
    e = s.arrays["edge_occlusion"][:, 0]
    z = s.arrays["_z"][:, 0].astype(np.float64)
    r = rays(s.arrays["_cam_K"], SIZE)
    facing = np.abs((s.arrays["normal"] * (r / np.linalg.norm(r, axis=0))).sum(1)) > 0.5
    big = np.zeros_like(z, dtype=bool)
    smooth = np.zeros_like(z, dtype=bool)
    for ax in (1, 2):  # vertical and horizontal neighbours
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax], b[ax] = slice(1, None), slice(None, -1)
        za, zb = z[tuple(a)], z[tuple(b)]
        rel = np.abs(za - zb) / np.minimum(za, zb)
        # a jump of 25% between two surfaces that both face the camera is an occlusion
        jump = (rel > 0.25) & facing[tuple(a)] & facing[tuple(b)]
        big[tuple(a)] |= jump
        big[tuple(b)] |= jump
        smooth[tuple(a)] |= rel > 0.01
        smooth[tuple(b)] |= rel > 0.01
    assert big.sum() > 20 and e[big].min() >= 0.5
    calm = ~ndi.binary_dilation(smooth, structure=np.ones((1, 7, 7), bool))
    assert calm.sum() > 100 and e[calm].max() <= 0.02


def test_geometric_labels_ignore_textures_and_2d_labels_follow_them() -> None:
    # bathrooms always have tiled walls and floors: textures with strong 2D edges
    tex = scene(7, scene_class="bathroom")
    flat = scene(7, textures=False, scene_class="bathroom")
    for key in (
        "depth_zbuffer",
        "depth_euclidean",
        "normal",
        "reshading",
        "principal_curvature",
        "edge_occlusion",
        "keypoints3d",
        "segment_unsup25d",
        "segment_semantic",
        "room_layout",
        "vanishing_point",
        "class_object",
        "class_scene",
        "mask_valid",
    ):
        np.testing.assert_array_equal(tex.arrays[key], flat.arrays[key], err_msg=key)
    for key in ("rgb", "edge_texture", "keypoints2d", "segment_unsup2d"):
        assert not np.array_equal(tex.arrays[key], flat.arrays[key]), key
    # textures make 2D edges inside smooth surfaces, where there is no geometric edge at all
    inside = np.stack([single_surface(s, radius=3) for s in tex.arrays["_surface"]])[:, None]
    assert inside.sum() > 1000 and tex.arrays["edge_occlusion"][inside].max() <= 0.02
    assert (
        tex.arrays["edge_texture"][inside].mean() > 2 * flat.arrays["edge_texture"][inside].mean()
    )


def test_keypoints3d_peak_at_a_room_corner() -> None:
    sc = make_scene((4.0, 2.8, 5.0))
    eye, corner = (2.6, 1.5, 3.2), np.array([0.0, 0.0, 0.0])
    rot, c = look(eye, (0.3, 0.4, 0.3))
    s = render_views(sc, rot, c, SceneConfig(size=64))
    kp = s.arrays["keypoints3d"][0, 0]
    uv = project(s.arrays["_cam_K"], rot[0], c[0], corner)
    assert 5 < uv[0] < 59 and 5 < uv[1] < 59  # the corner is in view
    i, j = np.unravel_index(np.argmax(kp), kp.shape)
    assert math.hypot(j + 0.5 - uv[0], i + 0.5 - uv[1]) <= 2.5
    assert kp.max() == 1.0 and np.median(kp) < 0.05  # flat walls have no keypoints


def test_keypoints2d_and_texture_edges_on_a_drawn_square() -> None:
    img = np.zeros((1, 3, 40, 40))
    img[:, :, 10:30, 12:28] = 0.5
    kp = L.keypoints2d(img)[0, 0]
    i, j = np.unravel_index(np.argmax(kp), kp.shape)
    corners = [(10, 12), (10, 27), (29, 12), (29, 27)]
    assert min(math.hypot(i - a, j - b) for a, b in corners) <= 1.5
    assert kp[18:22, 18:22].max() < 0.05 and kp[0:4, 0:4].max() < 0.05
    et = L.edge_texture(img)[0, 0]
    np.testing.assert_allclose(et[20, 11:13], 0.5, atol=1e-12)  # a 0 -> 0.5 step gives 0.5
    assert et[20, 15:25].max() == 0 and et[0:5, 0:5].max() == 0


# ----------------------------------------------------------------------------------------------
# segmentations


def test_unsupervised_2d_segments_are_connected_and_bounded_by_rgb_edges() -> None:
    s = scene(8)
    seg, et = s.arrays["segment_unsup2d"], s.arrays["edge_texture"][:, 0]
    for v in range(V):
        sv = seg[v]
        assert sv.min() == 0 and len(np.unique(sv)) == sv.max() + 1 >= 3
        for lab in np.unique(sv):
            _, n = ndi.label(sv == lab, structure=np.ones((3, 3)))
            assert n == 1
        boundary = (sv != np.roll(sv, 1, 0)) | (sv != np.roll(sv, 1, 1))
        boundary[0, :] = boundary[:, 0] = False
        assert et[v][boundary].mean() > 2 * et[v][~boundary].mean()


def test_unsupervised_25d_segments_are_smooth_surface_patches() -> None:
    s = scene(9)
    seg, n = s.arrays["segment_unsup25d"], s.arrays["normal"]
    sem, surf = s.arrays["segment_semantic"], s.arrays["_surface"]
    for v in range(V):
        sv = seg[v]
        assert sv.min() == 0 and len(np.unique(sv)) == sv.max() + 1 >= 2
        same = sv[:, 1:] == sv[:, :-1]
        cos = (n[v][:, :, 1:] * n[v][:, :, :-1]).sum(0)
        assert (cos[same] > math.cos(math.radians(20))).mean() > 0.98
        assert (cos[same] > math.cos(math.radians(45))).all()
        # floor and walls are never one segment: most floor pixels sit in floor-majority segments
        floor = (sem[v] == 0) & (surf[v] < 6)
        if floor.sum() > 50:
            majority = {
                lab: np.bincount(floor[sv == lab].astype(int), minlength=2).argmax()
                for lab in np.unique(sv[floor])
            }
            ok = np.array([majority[lab] for lab in sv[floor]])
            assert ok.mean() > 0.95


# ----------------------------------------------------------------------------------------------
# semantics, scene class, object soft labels


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_semantic_classes_agree_with_geometry_and_scene_type(seed: int) -> None:
    s = scene(seed)
    a = s.arrays
    up_world = np.array([0.0, 1.0, 0.0])
    allowed = {3 + OBJECT_CLASSES.index(c) for c in allowed_object_classes(s.meta["scene_class"])}
    for v in range(V):
        up = a["_cam_pose"][v, :3, :3].T @ up_world  # world up in the camera frame
        n = a["normal"][v].astype(np.float64)
        cos_up = np.einsum("chw,c->hw", n, up)
        sem, room = a["segment_semantic"][v], a["_surface"][v] < 6
        assert (cos_up[(sem == 0) & room] > 0.9999).all()  # floor faces up
        assert (cos_up[(sem == 2) & room] < -0.9999).all()  # ceiling faces down
        assert (np.abs(cos_up[(sem == 1) & room]) < 1e-4).all()  # walls are vertical
        assert set(np.unique(sem[~room]).tolist()) <= allowed
        assert (sem[room] <= 2).all()
    assert (a["class_scene"] == s.meta["scene_classes"].index(s.meta["scene_class"])).all()


def test_object_soft_label_is_the_visible_area_share() -> None:
    s = scene(13)
    a = s.arrays
    n_obj = s.meta["n_object_classes"]
    for v in range(V):
        sem = a["segment_semantic"][v]
        counts = np.array([(sem == 3 + c).sum() for c in range(n_obj)], dtype=float)
        expect = counts / counts.sum() if counts.sum() else np.full(n_obj, 1 / n_obj)
        np.testing.assert_allclose(a["class_object"][v], expect, atol=1e-6)
        assert abs(float(a["class_object"][v].sum()) - 1) < 1e-5
    empty = render_views(
        make_scene((4.0, 2.8, 5.0)), *look((2, 1.5, 1), (2, 1, 4)), SceneConfig(size=32)
    )
    np.testing.assert_allclose(empty.arrays["class_object"][0], 1 / n_obj)


# ----------------------------------------------------------------------------------------------
# room layout and vanishing points


@pytest.mark.parametrize("seed", [14, 15])
def test_room_layout_box_contains_the_rendered_room_surfaces(seed: int) -> None:
    s = scene(seed)
    a = s.arrays
    for v in range(V):
        lay = a["room_layout"][v].astype(np.float64)
        rmat = _rotvec_to_matrix(lay[:3])
        centre, size = lay[3:6], lay[6:9]
        np.testing.assert_allclose(rmat, a["vanishing_point"][v].reshape(3, 3).T, atol=1e-5)
        p = points_from_depth(s, v).reshape(3, -1)
        q = rmat.T @ (p - centre[:, None])  # room-frame coordinates: x right, y down, z fwd
        face = a["_surface"][v].ravel()
        room = face < 6
        sem = a["segment_semantic"][v].ravel()
        tol = 1e-4 * np.maximum(1.0, np.abs(q).max(0))
        floor, ceil, wall = room & (sem == 0), room & (sem == 2), room & (sem == 1)
        assert np.all(np.abs(q[1, floor] - size[1] / 2) < tol[floor])  # y is down
        assert np.all(np.abs(q[1, ceil] + size[1] / 2) < tol[ceil])
        on_wall = np.minimum(np.abs(np.abs(q[0]) - size[0] / 2), np.abs(np.abs(q[2]) - size[2] / 2))
        assert np.all(on_wall[wall] < tol[wall])
        # every point of the room is inside the box
        assert np.all(np.abs(q) <= size[:, None] / 2 + 1e-3)
        # the room's x axis is the horizontal one nearest the camera's right: within 45°
        assert rmat[0, 0] > math.cos(math.radians(45)) - 1e-6 and rmat[2, 2] > 0


def _rotvec_to_matrix(r: Arr) -> Arr:
    th = float(np.linalg.norm(r))
    if th < 1e-12:
        return np.eye(3)
    k = r / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * kx + (1 - math.cos(th)) * kx @ kx


def test_vanishing_points_are_where_rendered_room_edges_converge() -> None:
    sc = make_scene((5.0, 2.8, 4.0))
    views = [((2.5, 1.6, 3.2), (0.6, 0.9, 0.5)), ((1.0, 1.2, 3.5), (3.5, 0.2, 0.8))]
    rot = np.concatenate([look(e, t)[0] for e, t in views])
    cen = np.concatenate([look(e, t)[1] for e, t in views])
    s = render_views(sc, rot, cen, SceneConfig(size=96))
    k = s.arrays["_cam_K"]
    checked = 0
    for v in range(len(views)):
        axes = s.arrays["vanishing_point"][v].reshape(3, 3).astype(np.float64)  # rows x, y, z
        np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(axes) > 0 and axes[1, 1] > 0 and axes[2, 2] > 0 and axes[0, 0] > 0
        surf = s.arrays["_surface"][v]
        for wall in (0, 1, 4, 5):  # x = 0, x = Lx, z = 0, z = Lz walls meeting the floor (face 2)
            a = surf == 2
            b = surf == wall
            edge = (a[1:] & b[:-1]) | (a[:-1] & b[1:])
            rows, cols = np.nonzero(edge)
            if len(rows) < 15:
                continue
            pts = np.stack([cols + 0.5, rows + 1.0])  # boundary points (pixel coordinates)
            # the rendered floor-wall edge: a total-least-squares line through its pixels
            mean = pts.mean(1, keepdims=True)
            _, sv, vt = np.linalg.svd((pts - mean).T, full_matrices=False)
            direction = vt[0]
            assert sv[1] / np.sqrt(len(rows)) < 0.5  # the boundary is straight
            # it runs along the horizontal room axis parallel to that wall: its vanishing point
            world_dir = np.array([0.0, 0, 1]) if wall in (0, 1) else np.array([1.0, 0, 0])
            ax = int(np.argmax(np.abs(axes @ s.arrays["_cam_pose"][v, :3, :3].T @ world_dir)))
            vp = k @ axes[ax]  # homogeneous; vp[2] ~ 0 when the edge is parallel to the image
            to_vp = vp[:2] - mean[:, 0] * vp[2]
            sin = abs(direction[0] * to_vp[1] - direction[1] * to_vp[0]) / np.linalg.norm(to_vp)
            assert sin < math.sin(math.radians(2.0))
            checked += 1
    assert checked >= 2


# ----------------------------------------------------------------------------------------------
# self-supervised inputs and the validity mask


def test_jigsaw_input_is_the_labelled_tile_permutation() -> None:
    s = scene(16, size=50)  # 50 = 3 * 16 + 2: the last two rows/columns stay in place
    a = s.arrays
    perms = np.array(s.meta["jigsaw_permutations"])
    assert len({tuple(p) for p in perms.tolist()}) == len(perms)
    for v in range(V):
        p = perms[a["jigsaw"][v]]
        src, out = a["rgb"][v], a["rgb_jigsaw"][v]
        for k in range(9):
            r, c = divmod(k, 3)
            sr, sc_ = divmod(int(p[k]), 3)
            np.testing.assert_array_equal(
                out[:, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16],
                src[:, 16 * sr : 16 * sr + 16, 16 * sc_ : 16 * sc_ + 16],
            )
        np.testing.assert_array_equal(out[:, 48:], src[:, 48:])
        np.testing.assert_array_equal(out[:, :, 48:], src[:, :, 48:])


def test_jigsaw_permutations_are_far_apart() -> None:
    perms = np.array(L.jigsaw_permutations(100))
    d = (perms[:, None] != perms[None]).sum(2) + 9 * np.eye(len(perms), dtype=int)
    rng = np.random.default_rng(0)
    rand = np.array([rng.permutation(9) for _ in range(100)])
    dr = (rand[:, None] != rand[None]).sum(2) + 9 * np.eye(100, dtype=int)
    assert d.min() > dr.min() and d.mean() > dr.mean()


def test_self_supervised_inputs_are_noised_gray_and_masked_rgb() -> None:
    s = scene(17)
    a = s.arrays
    rgb = a["rgb"].astype(np.float64)
    for key in ("autoencoding", "denoising", "colorization", "inpainting"):
        np.testing.assert_array_equal(a[key], a["rgb"])
    noise = a["rgb_noised"] - rgb
    inside = (a["rgb_noised"] > 0) & (a["rgb_noised"] < 1)
    assert abs(noise[inside].std() - 0.1) < 0.015 and abs(noise[inside].mean()) < 0.02
    g = a["rgb_gray"].astype(np.float64)
    np.testing.assert_allclose(
        g[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2], atol=1e-6
    )
    assert (g[:, 0] == g[:, 1]).all() and (g[:, 1] == g[:, 2]).all()
    m = a["rgb_masked"]
    assert (m[:, :, 12:36, 12:36] == 0).all()  # centre square, half the side
    keep = np.ones((SIZE, SIZE), bool)
    keep[12:36, 12:36] = False
    np.testing.assert_array_equal(m[:, :, keep], a["rgb"][:, :, keep])


def test_invalid_geometry_is_exactly_the_window_glass() -> None:
    window = 3 + OBJECT_CLASSES.index("window")
    seen = 0
    for seed in (18, 19, 20, 21):
        s = scene(seed)
        invalid = ~s.arrays["mask_valid"][:, 0]
        sem = s.arrays["segment_semantic"]
        assert (sem[invalid] == window).all()
        rgb = s.arrays["rgb"].transpose(0, 2, 3, 1)
        if invalid.any():
            seen += 1
            assert rgb[invalid].mean() > rgb[~invalid].mean()  # the sky is bright
        assert (s.arrays["edge_occlusion"][:, 0][invalid] == 0).all()
        assert (s.arrays["keypoints3d"][:, 0][invalid] == 0).all()
    assert seen >= 1


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_all_permutations_match_itertools_order(n: int) -> None:
    import itertools

    want = np.array(list(itertools.permutations(range(n))), dtype=np.int8).reshape(-1, n)
    np.testing.assert_array_equal(L.all_permutations(n), want)

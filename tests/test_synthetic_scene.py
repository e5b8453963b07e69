"""The synthetic world: determinism, scene composition, exact ray casting, shading with cast
shadows, camera placement and the multi-view tuples (poses, fixation, point matching)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from numpy.typing import NDArray

from taskonomy.data.synthetic import (
    OBJECT_CLASSES,
    SCENE_CLASSES,
    PrimitiveSpec,
    RenderedScene,
    SceneConfig,
    allowed_object_classes,
    generate_scene,
    make_scene,
    render_scene,
    render_views,
)
from taskonomy.data.synthetic.views import MIN_SEPARATION, compose_poses, look_rotations
from taskonomy.errors import TaskonomyError

SIZE = 32
Arr = NDArray[np.float64]


@cache
def scene(seed: int, views: int = 6, size: int = SIZE) -> RenderedScene:
    return render_scene(seed, SceneConfig(size=size, views=views))


def look(eye: tuple[float, float, float], at: tuple[float, float, float]) -> tuple[Arr, Arr]:
    e = np.array(eye, dtype=float)
    return look_rotations((np.array(at) - e)[None]), e[None]


def pixel_rays(k: Arr, size: int) -> Arr:
    c = (np.arange(size) + 0.5 - k[0, 2]) / k[0, 0]
    x, y = np.meshgrid(c, c)
    return np.stack([x, y, np.ones_like(x)])


# ----------------------------------------------------------------------------------------------
# determinism and input validation


def test_same_seed_same_bytes_other_seed_other_scene() -> None:
    a = render_scene(3, SceneConfig(size=SIZE, views=3))
    b = render_scene(3, SceneConfig(size=SIZE, views=3))
    assert a.arrays.keys() == b.arrays.keys() and a.meta == b.meta
    for k in a.arrays:
        assert a.arrays[k].tobytes() == b.arrays[k].tobytes(), k
    c = render_scene(4, SceneConfig(size=SIZE, views=3))
    assert c.arrays["rgb"].tobytes() != a.arrays["rgb"].tobytes()
    assert c.meta["room_size"] != a.meta["room_size"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 8}, "SceneConfig.size"),
        ({"views": 2}, "at least 3 views"),
        ({"fov_deg": 170.0}, "fov_deg"),
        ({"scene_class": "garage"}, "one of: bathroom"),
        ({"mask_fraction": 1.0}, "mask_fraction"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TaskonomyError, match=match):
        SceneConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_render_arguments_are_refused() -> None:
    with pytest.raises(TaskonomyError, match="non-negative int"):
        render_scene(-1)
    with pytest.raises(TaskonomyError, match="a SceneConfig"):
        render_scene(0, {"size": 32})  # type: ignore[arg-type]
    with pytest.raises(TaskonomyError, match=r"PrimitiveSpec\.kind"):
        make_scene((4, 3, 4), (PrimitiveSpec("torus", (1, 1, 1), (1, 1, 1)),))


# ----------------------------------------------------------------------------------------------
# the world


def test_scene_type_decides_the_objects() -> None:
    seen: dict[str, set[str]] = {c: set() for c in SCENE_CLASSES}
    for seed in range(60):
        sc = generate_scene(seed, SceneConfig())
        name = SCENE_CLASSES[sc.scene_class]
        objs = set(sc.placed)
        assert objs <= set(allowed_object_classes(name)), (name, objs)
        seen[name] |= objs
        lo, hi = sc.object_box[:, 0], sc.object_box[:, 1]
        assert (lo >= -1e-9).all() and (hi <= sc.room + 1e-9).all()  # everything is inside
    assert all(seen.values())  # every room type occurs
    assert (
        "bed" in seen["bedroom"] and "toilet" in seen["bathroom"] and "sofa" in seen["living_room"]
    )
    exclusive = {
        "bed": "bedroom",
        "toilet": "bathroom",
        "bathtub": "bathroom",
        "sofa": "living_room",
    }
    for obj, room in exclusive.items():
        assert [c for c, o in seen.items() if obj in o] == [room]
    assert len(OBJECT_CLASSES) >= 8 and len(SCENE_CLASSES) >= 5


def test_forced_scene_class_and_empty_rooms() -> None:
    sc = generate_scene(1, SceneConfig(scene_class="office"))
    assert SCENE_CLASSES[sc.scene_class] == "office" and "table" in sc.placed
    empty = generate_scene(1, SceneConfig(furnish=False))
    assert len(empty.prims) == 0 and len(empty.lights) >= 1


def test_ray_casting_is_exact_for_a_sphere_and_a_box() -> None:
    r, c_s = 0.5, np.array([2.0, 1.2, 3.5])
    sc = make_scene(
        (4.0, 2.8, 6.0),
        (
            PrimitiveSpec("sphere", tuple(c_s), (r, r, r), cls="plant"),
            PrimitiveSpec("box", (1.4, 0.3, 2.0), (0.3, 0.3, 0.25), cls="cabinet"),
        ),
    )
    rot, cam = look((2.0, 1.2, 0.5), (2.0, 1.2, 3.0))  # looking along +z, level
    s = render_views(sc, rot, cam, SceneConfig(size=48))
    ray = pixel_rays(s.arrays["_cam_K"], 48).reshape(3, -1)  # camera = world axes up to flips
    d = rot[0] @ ray  # world directions with camera z = 1
    oc = cam[0][:, None] - c_s[:, None]
    a, b, cc = (d * d).sum(0), (d * oc).sum(0), (oc * oc).sum() - r * r
    disc = b * b - a * cc
    hit = disc > 0
    t = (-b - np.sqrt(np.where(hit, disc, 0))) / a  # analytic first hit, t = z-depth
    z = s.arrays["_z"][0, 0].ravel().astype(np.float64)
    surf = s.arrays["_surface"][0].ravel()
    assert hit.sum() > 100
    np.testing.assert_array_equal(surf == 6, hit)  # exactly the analytic silhouette
    np.testing.assert_allclose(z[hit], t[hit], rtol=1e-6)
    # the box's front face (z = 1.75) is a plane of constant depth
    front = surf == 6 + 6 + 4  # box face index 4: the -z face
    assert front.sum() > 10
    np.testing.assert_allclose(z[front], 1.75 - 0.5, rtol=1e-6)


def test_cast_shadows_darken_exactly_the_shadowed_floor() -> None:
    sc = make_scene(
        (4.0, 2.8, 4.0),
        (PrimitiveSpec("box", (2.0, 1.0, 2.0), (0.4, 0.05, 0.4), cls="table"),),
        lights=((2.0, 2.6, 2.0),),
    )
    rot, cam = look((2.0, 2.2, 0.3), (2.0, 0.0, 2.3))
    on = render_views(sc, rot, cam, SceneConfig(size=48, shadows=True))
    off = render_views(sc, rot, cam, SceneConfig(size=48, shadows=False))
    # floor points straight below the slab, as seen in the image, lie in its shadow
    k, z = on.arrays["_cam_K"], on.arrays["_z"][0, 0].astype(np.float64)
    p = rot[0] @ (pixel_rays(k, 48) * z).reshape(3, -1) + cam[0][:, None]
    floor = on.arrays["segment_semantic"][0].ravel() == 0
    # the shadow of the slab (top at 1.05 m) from a light straight above it (2.6 m): its
    # 0.8 m square grows by 2.6 / (2.6 - 1.05) on the floor
    half = 0.4 * 2.6 / (2.6 - 1.05)
    under = floor & (np.abs(p[0] - 2.0) < half - 0.05) & (np.abs(p[2] - 2.0) < half - 0.05)
    lit = floor & ((np.abs(p[0] - 2.0) > half + 0.05) | (np.abs(p[2] - 2.0) > half + 0.05))
    lum_on = on.arrays["rgb"][0].reshape(3, -1).mean(0)
    lum_off = off.arrays["rgb"][0].reshape(3, -1).mean(0)
    assert under.sum() > 20 and lit.sum() > 100
    assert (lum_on[under] < 0.8 * lum_off[under]).all()
    np.testing.assert_array_equal(lum_on[lit], lum_off[lit])


# ----------------------------------------------------------------------------------------------
# cameras and multi-view tuples


def test_cameras_stand_in_free_space_level_and_inside_the_room() -> None:
    for seed in (0, 1, 2):
        s = scene(seed)
        sc = generate_scene(seed, SceneConfig(size=SIZE, views=6))
        pose = s.arrays["_cam_pose"]
        centres = pose[:, :3, 3]
        assert ((centres > 0.25) & (centres < sc.room - 0.25)).all()
        for c in centres:
            inside = (c >= sc.object_box[:, 0]) & (c <= sc.object_box[:, 1])
            assert not inside.all(axis=1).any()
        right = pose[:, :3, 0]
        np.testing.assert_allclose(right[:, 1], 0.0, atol=1e-12)  # no roll
        np.testing.assert_allclose(np.einsum("vij,vik->vjk", pose[:, :3, :3], pose[:, :3, :3]),
                                   np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-12)  # fmt: skip


def _pose(s: RenderedScene, i: int, j: int) -> Arr:
    """Pose of j in i computed independently from the camera-to-world matrices."""
    ti, tj = s.arrays["_cam_pose"][i], s.arrays["_cam_pose"][j]
    rel = np.linalg.inv(ti) @ tj
    r = rel[:3, :3]
    angle = math.acos(np.clip((np.trace(r) - 1) / 2, -1, 1))
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    rotvec = axis / (2 * math.sin(angle)) * angle if angle > 1e-9 else axis / 2
    return np.concatenate([rotvec, rel[:3, 3]])


def test_pose_labels_match_the_cameras_and_compose() -> None:
    s = scene(5, views=7)
    a = s.arrays
    for key in ("fixated_pose", "nonfixated_pose"):
        for (i, j), p in zip(a[f"{key}/views"], a[key], strict=True):
            np.testing.assert_allclose(p, _pose(s, i, j), atol=1e-5)
    for (i, j, k), ego in zip(a["egomotion/views"], a["egomotion"], strict=True):
        np.testing.assert_allclose(ego[0], _pose(s, i, j), atol=1e-5)
        np.testing.assert_allclose(ego[1], _pose(s, j, k), atol=1e-5)
        # the triplet's 1→3 pose is 1→2 followed by 2→3
        np.testing.assert_allclose(
            ego[2], compose_poses(ego[0].astype(float), ego[1].astype(float)), atol=1e-5
        )
        assert np.linalg.norm(ego[1][3:]) < 0.6  # a small motion


def _project(s: RenderedScene, v: int, x: Arr) -> tuple[Arr, float]:
    pose = s.arrays["_cam_pose"][v]
    p = pose[:3, :3].T @ (x - pose[:3, 3])
    uv = (s.arrays["_cam_K"] @ (p / p[2]))[:2]
    return uv, float(p[2])


@pytest.mark.parametrize("seed", [6, 7])
def test_fixated_pairs_see_one_3d_point_at_both_image_centres(seed: int) -> None:
    s = scene(seed, views=7, size=48)
    a = s.arrays
    for i, j in a["fixated_pose/views"]:
        pi, pj = a["_center_point"][i], a["_center_point"][j]
        np.testing.assert_allclose(pi, pj, atol=1e-6)
        ci, cj = a["_cam_pose"][i, :3, 3], a["_cam_pose"][j, :3, 3]
        assert np.linalg.norm(ci - cj) > 0.1  # seen from two places
        for v in (i, j):
            uv, depth = _project(s, v, pi)
            np.testing.assert_allclose(uv, [24.0, 24.0], atol=1e-6)
            # the rendered depth around the principal point agrees with the fixated point
            zc = a["_z"][v, 0, 23:25, 23:25].astype(np.float64)
            if len(np.unique(a["_surface"][v, 23:25, 23:25])) == 1:
                assert zc.min() - 1e-3 <= depth * (1 + 1e-6) and depth <= zc.max() + 1e-3


@pytest.mark.parametrize("seed", [6, 7])
def test_nonfixated_pairs_overlap_without_fixating(seed: int) -> None:
    s = scene(seed, views=7, size=48)
    a = s.arrays
    assert len(a["nonfixated_pose/views"]) >= 1
    for i, j in a["nonfixated_pose/views"]:
        pj = a["_center_point"][j]
        uv, depth = _project(s, i, pj)  # what j looks at is inside i's image
        assert depth > 0 and ((uv > 0) & (uv < 48)).all()
        assert np.linalg.norm(pj - a["_center_point"][i]) >= MIN_SEPARATION - 1e-9


def test_point_matching_labels_follow_the_centre_points() -> None:
    for seed in (8, 9):
        s = scene(seed, views=6)
        a = s.arrays
        labels = a["point_matching"]
        assert set(labels.tolist()) == {0, 1} and (labels == 0).sum() <= (labels == 1).sum()
        for (i, j), m in zip(a["point_matching/views"], labels, strict=True):
            gap = np.linalg.norm(a["_center_point"][i] - a["_center_point"][j])
            assert gap < 1e-6 if m == 1 else gap >= MIN_SEPARATION


@pytest.mark.parametrize("views", [3, 4, 5, 7])
def test_every_tuple_kind_exists_for_any_view_count(views: int) -> None:
    s = scene(10, views=views)
    a = s.arrays
    assert a["rgb"].shape[0] == views
    for key, k in (
        ("fixated_pose", 2),
        ("nonfixated_pose", 2),
        ("egomotion", 3),
        ("point_matching", 2),
    ):
        idx = a[f"{key}/views"]
        assert idx.shape[1] == k and len(idx) >= 1 and idx.max() < views
    expect_fix = {3: 1, 4: 3, 5: 2, 7: 4}[views]  # a leftover view fixates the last P twice
    assert len(a["fixated_pose/views"]) == expect_fix
    assert (a["point_matching"] == 1).sum() == expect_fix

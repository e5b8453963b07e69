"""``render_scene``: one procedural room, several views, every task's label.

>>> from taskonomy.data.synthetic import SceneConfig, render_scene
>>> s = render_scene(0, SceneConfig(size=32, views=3))
>>> s.arrays["rgb"].shape, s.arrays["normal"].dtype
((3, 3, 32, 32), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taskonomy.data.synthetic import labels as L
from taskonomy.data.synthetic.raycast import cast_brute, cast_primary, project_rects, rect_pixels
from taskonomy.data.synthetic.render import albedo, shade, tone_map
from taskonomy.data.synthetic.scene import (
    FACE_CEILING,
    FACE_FLOOR,
    OBJECT_CLASSES,
    SCENE_CLASSES,
    SEMANTIC_CLASSES,
    SURFACE_CLASSES,
    Scene,
    SceneConfig,
    generate_scene,
)
from taskonomy.data.synthetic.views import ViewSet, intrinsics, relative_poses, sample_views
from taskonomy.errors import input_error
from taskonomy.tasks import MASK_KEY

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

POSE_CONVENTION = (
    "[axis-angle rotation (3, rad), translation (3, m)] of view j's camera in view i's "
    "camera frame (x right, y down, z forward): R_ij = R_i^T R_j, t_ij = R_i^T (C_j - C_i)"
)


@dataclass
class RenderedScene:
    """All views of one scene: ``arrays`` (leading view axis V, or tuple axis) and ``meta``.

    See ``docs/tasks.md`` and the package docstring for the keys; keys starting with ``_``
    are extra geometry (metric depth ``_z``, intrinsics ``_cam_K``, camera-to-world poses
    ``_cam_pose``, principal-ray points ``_center_point``, surface ids ``_surface``).
    """

    arrays: dict[str, NDArray[Any]]
    meta: dict[str, Any]


def _pixel_rays(size: int, k: F64) -> F64:
    """Camera-frame ray directions with z = 1 for every pixel centre, (H * W, 3)."""
    c = (np.arange(size) + 0.5 - k[0, 2]) / k[0, 0]
    r = (np.arange(size) + 0.5 - k[1, 2]) / k[1, 1]
    x, y = np.meshgrid(c, r)  # (H, W): x varies along columns
    return np.stack([x.ravel(), y.ravel(), np.ones(size * size)], 1)


def render_views(
    scene: Scene,
    rot: F64,
    center: F64,
    config: SceneConfig,
    seed: int = 0,
    center_points: F64 | None = None,
) -> RenderedScene:
    """Render cameras ``(rot (V, 3, 3) camera-to-world, center (V, 3))`` of ``scene``.

    Returns every single-view label (no multi-view tuples); ``seed`` drives the texture
    noise and the self-supervised inputs; ``center_points`` (V, 3), where each principal
    ray hits, is cast when not given. :func:`render_scene` builds on it.
    """
    size = config.size
    nv = len(rot)
    k_mat = intrinsics(size, config.fov_deg)
    prims = scene.prims

    # --- primary rays of every view in one batch (component-major: (3, V * P))
    rays_cam = _pixel_rays(size, k_mat)  # (P, 3), P = H * W, camera z = 1
    npix = size * size
    dirs = np.einsum("vij,pj->ivp", rot, rays_cam).reshape(3, -1)  # world
    origins = np.repeat(center.T, npix, axis=1)  # (3, V * P)
    corners = prims.corners()
    cand_ray, cand_prim = [], []
    f = (float(k_mat[0, 0]), float(k_mat[1, 1]))
    pp = (float(k_mat[0, 2]), float(k_mat[1, 2]))
    for v in range(nv):
        u0, u1, v0, v1 = project_rects(corners, rot[v].T, center[v], f, pp, 1e-3)
        base = np.full(len(prims), v * npix, dtype=np.int64)
        pix, which = rect_pixels(u0, u1, v0, v1, size, size, base)
        cand_ray.append(pix)
        cand_prim.append(which)
    hits = cast_primary(
        prims, scene.room, origins, dirs, np.concatenate(cand_ray), np.concatenate(cand_prim)
    )

    # --- materials and shading
    on_prim = np.flatnonzero(hits.prim >= 0)
    hit_prim = np.take(hits.prim, on_prim)
    face = hits.surface % 6  # room face (meaningful where not on a primitive)
    mat = np.take(scene.room_material, face)
    mat[on_prim] = np.take(prims.material, hit_prim)
    points = origins + hits.t * dirs  # (3, V * P) world
    ray_len = np.sqrt((dirs * dirs).sum(0))
    dist = hits.t * ray_len  # euclidean distance to the camera centre
    cos = np.abs((hits.normal * dirs).sum(0)) / ray_len
    footprint = dist / k_mat[0, 0] / np.maximum(cos, 0.15)
    salt = int(np.random.default_rng(np.random.SeedSequence([seed, 3])).integers(1 << 30))
    refl, emitted = albedo(scene.materials, mat, hits.uv, footprint, salt)
    radiance = shade(scene, points, hits.normal, hits.prim, refl, emitted, config.shadows)

    # --- per-pixel geometry in each camera frame, as (V, C, H, W) images
    def img(a: F64) -> F64:  # (C, V * P) -> (V, C, H, W)
        return np.ascontiguousarray(a.reshape(-1, nv, size, size).transpose(1, 0, 2, 3))

    rgb = img(tone_map(radiance))  # (V, 3, H, W) float64
    z = hits.t.reshape(nv, size, size)  # rays have camera z = 1, so t is z-depth
    n_world = hits.normal.reshape(3, nv, npix)
    normal_cam = np.einsum("vji,jvp->vip", rot, n_world).reshape(nv, 3, size, size)  # R^T n
    ray_img = np.broadcast_to(rays_cam.T.reshape(1, 3, size, size), (nv, 3, size, size))
    points_cam = ray_img * z[:, None]
    curvature = img(hits.curvature)
    valid_mat = np.array([m.valid for m in scene.materials], dtype=bool)
    valid = np.take(valid_mat, mat).reshape(nv, size, size)
    semantic = np.where(face == FACE_FLOOR, 0, np.where(face == FACE_CEILING, 2, 1))
    semantic[on_prim] = 3 + np.take(scene.object_class, np.take(prims.obj, hit_prim))
    semantic = semantic.reshape(nv, size, size).astype(np.int64)
    jumps = L.occlusion_pairs(points_cam, normal_cam, 1.0 / k_mat[0, 0])
    curv_px = L.surface_curvature(points_cam, normal_cam, jumps)  # at the pixel scale

    # --- labels
    n_obj = len(OBJECT_CLASSES)
    obj_ids = np.where(semantic >= 3, semantic - 3, n_obj).reshape(nv, -1)  # n_obj: no object
    counts = np.stack([np.bincount(s, minlength=n_obj + 1)[:n_obj] for s in obj_ids])
    total = counts.sum(1, keepdims=True)
    # visible-area share per object class; uniform when no object is in view
    class_object = np.where(total > 0, counts / np.maximum(total, 1), 1.0 / n_obj)
    perms_all = np.array(L.jigsaw_permutations(config.n_jigsaw), dtype=np.int64)
    in_rng = np.random.default_rng(np.random.SeedSequence([seed, 5]))
    jig = in_rng.integers(config.n_jigsaw, size=nv)
    noised = L.noised_input(rgb, config.noise_std, in_rng)
    rgb32 = rgb.astype(np.float32)
    arrays: dict[str, NDArray[Any]] = {
        "rgb": rgb32,
        "rgb_noised": noised.astype(np.float32),
        "rgb_gray": L.gray_input(rgb).astype(np.float32),
        "rgb_masked": L.masked_input(rgb, config.mask_fraction).astype(np.float32),
        "rgb_jigsaw": L.jigsaw(rgb, perms_all[jig]).astype(np.float32),
        MASK_KEY: valid[:, None],
        "autoencoding": rgb32,
        "denoising": rgb32,
        "colorization": rgb32,
        "inpainting": rgb32,
        "jigsaw": jig.astype(np.int64),
        "edge_texture": L.edge_texture(rgb),
        "keypoints2d": L.keypoints2d(rgb),
        "segment_unsup2d": L.segment_unsup2d(rgb),
        "edge_occlusion": L.edge_occlusion(jumps, valid),
        "keypoints3d": L.keypoints3d(np.log(z), normal_cam, valid),
        "segment_unsup25d": L.segment_unsup25d(jumps, normal_cam, curvature, valid),
        "depth_zbuffer": L.log_depth(z, config.z_max)[:, None],
        "depth_euclidean": L.log_depth(dist.reshape(nv, size, size), config.z_max)[:, None],
        "normal": normal_cam.astype(np.float32),
        "reshading": L.reshading(normal_cam, ray_img),
        "principal_curvature": L.curvature_label(curv_px),
        "room_layout": L.room_layout(rot, center, scene.room),
        "vanishing_point": L.vanishing_point(rot, scene.room),
        "segment_semantic": semantic,
        "class_object": class_object.astype(np.float32),
        "class_scene": np.full(nv, scene.scene_class, dtype=np.int64),
    }

    # --- extras for tests and storage (droppable)
    cam_pose = np.tile(np.eye(4), (nv, 1, 1))
    cam_pose[:, :3, :3] = rot
    cam_pose[:, :3, 3] = center
    arrays["_z"] = z[:, None].astype(np.float32)
    arrays["_cam_K"] = k_mat
    arrays["_cam_pose"] = cam_pose
    arrays["_surface"] = hits.surface.reshape(nv, size, size)
    if center_points is None:
        fwd = np.ascontiguousarray(rot[:, :, 2])
        t_c, _ = cast_brute(prims, scene.room, center.T, fwd.T, scene.object_box)
        center_points = center + t_c[:, None] * fwd
    arrays["_center_point"] = center_points

    meta: dict[str, Any] = {
        "seed": int(seed),
        "scene_class": SCENE_CLASSES[scene.scene_class],
        "n_object_classes": n_obj,
        "n_scene_classes": len(SCENE_CLASSES),
        "n_semantic_classes": len(SEMANTIC_CLASSES),
        "object_classes": list(OBJECT_CLASSES),
        "scene_classes": list(SCENE_CLASSES),
        "semantic_classes": list(SEMANTIC_CLASSES),
        "surface_classes": list(SURFACE_CLASSES),
        "z_max": float(config.z_max),
        "jigsaw_permutations": [list(p) for p in L.jigsaw_permutations(config.n_jigsaw)],
        "image_size": size,
        "fov_deg": float(config.fov_deg),
        "K": k_mat.tolist(),
        "room_size": scene.room.tolist(),
        "objects": list(scene.placed),
        "pose_convention": POSE_CONVENTION,
        "views": nv,
    }
    return RenderedScene(arrays, meta)


def _tuples(vs: ViewSet) -> dict[str, NDArray[Any]]:
    """Multi-view tuple arrays (view indices and pose / match labels)."""

    def poses(pairs: list[tuple[int, int]]) -> F64:
        i = np.array([p[0] for p in pairs], dtype=np.int64)
        j = np.array([p[1] for p in pairs], dtype=np.int64)
        return relative_poses(vs.rot[i], vs.center[i], vs.rot[j], vs.center[j])

    def views(p: list[tuple[int, int]] | list[tuple[int, int, int]], k: int) -> I64:
        return np.array(p, dtype=np.int64).reshape(-1, k)

    trip = vs.triplets
    steps = (
        [(a, b) for a, b, _ in trip] + [(b, c) for _, b, c in trip] + [(a, c) for a, _, c in trip]
    )
    ego = poses(steps).reshape(3, len(trip), 6).transpose(1, 0, 2)  # (P3, 3, 6): 1→2, 2→3, 1→3
    return {
        "fixated_pose/views": views(vs.fixated, 2),
        "fixated_pose": poses(vs.fixated).astype(np.float32),
        "nonfixated_pose/views": views(vs.nonfixated, 2),
        "nonfixated_pose": poses(vs.nonfixated).astype(np.float32),
        "egomotion/views": views(trip, 3),
        "egomotion": np.ascontiguousarray(ego).astype(np.float32),
        "point_matching/views": views([(i, j) for i, j, _ in vs.matches], 2),
        "point_matching": np.array([m for *_, m in vs.matches], dtype=np.int64),
    }


def render_scene(seed: int, config: SceneConfig | None = None) -> RenderedScene:
    """Render ``config.views`` views of the room drawn from ``seed`` with all task labels.

    Deterministic: the same ``(seed, config)`` gives byte-identical arrays; the view scheme
    and pose convention are documented in ``views.py``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise input_error("render_scene seed", seed, "a non-negative int", "Use e.g. seed=0.")
    config = SceneConfig() if config is None else config
    if not isinstance(config, SceneConfig):
        raise input_error(
            "render_scene config", type(config).__name__, "a SceneConfig", "Build one first."
        )
    seed = int(seed)
    scene = generate_scene(seed, config)
    k_mat = intrinsics(config.size, config.fov_deg)
    vs = sample_views(scene, config.views, config.size, k_mat, seed)
    out = render_views(scene, vs.rot, vs.center, config, seed, center_points=vs.target)
    out.arrays.update(_tuples(vs))
    return out

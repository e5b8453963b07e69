"""The embedded default data source: procedural indoor scenes rendered by exact ray casting.

Every view carries every task's label, computed from the exact geometry where geometry
exists (depth, normals, curvature, occlusion edges, layout, poses, ...) and from the
rendered RGB for the 2D tasks. CPU only (numpy, scipy, scikit-image), deterministic per seed.

>>> from taskonomy.data.synthetic import SceneConfig, render_scene
>>> scene = render_scene(seed=0, config=SceneConfig(size=32, views=3))
>>> scene.arrays["depth_zbuffer"].shape
(3, 1, 32, 32)

Modules: ``scene`` (room, furniture models, materials, lights), ``raycast`` (vectorized
ray–primitive intersection with image-space culling), ``render`` (textures, shading, cast
shadows), ``views`` (cameras and multi-view tuples), ``labels`` (every label),
``generate`` (``render_scene``).

Conventions (details in each module):

- camera frame x right, y down, z forward; pinhole ``K`` with the principal point at the
  image centre; pixel ``(row, col)`` looks through ``(col + 0.5, row + 0.5)``;
- depth labels ``log(1 + d) / log(1 + z_max)``; normals unit and facing the camera;
  principal curvatures ``k1 >= k2`` in 1/m, positive for surfaces convex towards the camera;
- ``room_layout``: room rotation (axis-angle), centre and size in the camera frame of the
  room frame whose axes are ``vanishing_point``: x right, y down (gravity), z forward (the
  horizontal room axis nearest the viewing direction), so the yaw stays within ±45°;
- ``class_object``: visible-area share of each object class among object pixels, uniform
  when no object is visible; ``segment_semantic``: floor, wall, ceiling, then the object
  classes (``SEMANTIC_CLASSES``);
- ``mask_valid`` is False on window glass (no valid depth reading, as with real scanners);
- poses: ``POSE_CONVENTION``; view scheme and tuples: ``views.py``.
"""

from __future__ import annotations

from taskonomy.data.synthetic.generate import (
    POSE_CONVENTION,
    RenderedScene,
    render_scene,
    render_views,
)
from taskonomy.data.synthetic.scene import (
    OBJECT_CLASSES,
    SCENE_CLASSES,
    SEMANTIC_CLASSES,
    SURFACE_CLASSES,
    PrimitiveSpec,
    Scene,
    SceneConfig,
    allowed_object_classes,
    generate_scene,
    make_scene,
)

__all__ = [
    "OBJECT_CLASSES",
    "POSE_CONVENTION",
    "SCENE_CLASSES",
    "SEMANTIC_CLASSES",
    "SURFACE_CLASSES",
    "PrimitiveSpec",
    "RenderedScene",
    "Scene",
    "SceneConfig",
    "allowed_object_classes",
    "generate_scene",
    "make_scene",
    "render_scene",
    "render_views",
]

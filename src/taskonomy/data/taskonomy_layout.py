"""The Taskonomy / Omnidata folder layout: read real data, export the synthetic bank into it.

Layout (one folder per domain, one sub-folder per building, one file per camera view)::

    ROOT/
      rgb/<building>/point_<P>_view_<V>_domain_rgb.png
      depth_zbuffer/<building>/point_<P>_view_<V>_domain_depth_zbuffer.png
      segment_semantic/<building>/point_<P>_view_<V>_domain_segmentsemantic.png
      point_info/<building>/point_<P>_view_<V>_domain_point_info.json
      ...

``<building>`` may also be nested (Omnidata's ``rgb/taskonomy/<building>/``): the reader
takes every folder under ``rgb/`` that holds ``point_*`` files as a building, and looks for
the same relative folder under each other domain.

Encodings (following the released data where it is known; "choice" marks where we had to pick):

=====================  ==================  =====================================================
domain (folder)        file                encoding ↔ this project's label
=====================  ==================  =====================================================
rgb                    8-bit RGB PNG       x·255
depth_zbuffer,         16-bit PNG          metres·512 (units of 1/512 m, ≤ 128 m, as released);
depth_euclidean                            65535 = no depth. Label = log(1+z)/log(1+z_max)
mask_valid             8-bit PNG, named    255 = valid geometry (Omnidata names these files
                       ``..._domain_       ``_domain_depth_zbuffer.png``); without the folder,
                       depth_zbuffer.png`` validity is read from depth ≠ 65535
normal                 8-bit RGB PNG       (n'+1)/2·255 with n' = (x, y, −z): the released data
                                           (NYU / 2D-3D-S convention) has R right, G down,
                                           B *towards* the camera, ours is x right, y down,
                                           z forward, so the third axis flips
reshading              8-bit PNG           x·255 (first channel when RGB)
principal_curvature    8-bit RGB PNG       R = k1, G = k2, 127 = zero curvature (as released);
                                           value = 127 + k·scale, scale in ``taskonomy_export.
                                           json`` (choice: the released scale is undocumented;
                                           export picks 127 / (99.5th percentile of |k|), so
                                           the top 0.5 % saturate)
edge_texture,          16-bit PNG          x·65535
edge_occlusion,
keypoints2d,
keypoints3d
segment_unsup2d,       8-bit PNG ids       id (16-bit PNG when an id exceeds 255)
segment_unsup25d,
segment_semantic
                       (domain name ``segmentsemantic`` for segment_semantic, as released)
class_object           .npy float32        the soft label itself (released: 1000-way softmax)
class_scene            .npy float32        one-hot over the scene classes (released: a softmax
                                           over 365 places); read back as its argmax
point_info             .json               ``room_layout`` (9 floats, choice) and
                                           ``vanishing_points_gaussian_sphere`` {x, y, z}
                                           (as released) plus resolution, point and view ids;
                                           the camera as ``camera_location`` (name as
                                           released; metres, *our* world frame, y up) and
                                           ``camera_rotation_matrix`` (choice: camera-to-world,
                                           OpenCV camera axes; the released Euler angles use
                                           Blender's axes and are not written),
                                           ``field_of_view_rads`` (as released)
=====================  ==================  =====================================================

Not in the released data (this package's additions, same naming): the self-supervised
inputs ``rgb_noised/``, ``rgb_gray/``, ``rgb_masked/``, ``rgb_jigsaw/`` (8-bit RGB) with
``jigsaw/…_domain_jigsaw.npy`` (the permutation index), and one JSON per building and
multi-view task, ``<task>/<building>/tuples_domain_<task>.json`` =
``{"views": [[[P, V], ...], ...], "labels": [...]}`` (the released data derives these from
camera poses). ``taskonomy_export.json`` at the root records the export's scales, class lists
and splits; the reader uses it when present.

A bank scene becomes a building (its scene name); its view ``i`` becomes point ``i``, view 0.

Errors: an unreadable file, a wrong bit depth, channel count or size, or a missing file
raises :class:`~taskonomy.errors.TaskonomyError` naming the file and what was expected.
:func:`import_taskonomy_layout` can instead skip views with missing files
(``on_missing="skip"``, reported in the bank's ``generator.skipped``); corrupt files always
raise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from taskonomy.data.bank import (
    DEFAULT_FRACTIONS,
    MASK_KEY,
    VIEWS_SUFFIX,
    Bank,
    BankWriter,
    atomic_bank_dir,
    open_bank,
    split_scenes,
)
from taskonomy.data.generate import progress_bar
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.tasks import (
    TASKS,
    get_task,
    labelled_tasks,
    multiview_tasks,
    rgb_label_tasks,
)
from taskonomy.tasks.spec import LayoutCodec

EXPORT_INFO = "taskonomy_export.json"
DEPTH_UNITS_PER_M = 512.0  # released depth PNGs: units of 1/512 m
DEPTH_INVALID = 65535
DEFAULT_Z_MAX = DEPTH_INVALID / DEPTH_UNITS_PER_M  # 128 m, the range a 16-bit PNG can hold
CURV_ZERO = 127
DEFAULT_CURVATURE_SCALE = 32.0  # pixel units per 1/m when no export info says otherwise

Codec = LayoutCodec


@dataclass(frozen=True)
class Domain:
    """One key of the bank as it lives in the layout."""

    key: str  # bank key / canonical task name
    folder: str
    domain: str  # the ``_domain_<domain>`` part of the file name
    ext: str
    codec: Codec
    released: bool = True  # part of the released dataset (False: this package's addition)


# Layout entries that are not task labels: network inputs, the validity mask, the camera.
_EXTRA_DOMAINS = (
    Domain("rgb", "rgb", "rgb", "png", "rgb8"),
    Domain(MASK_KEY, MASK_KEY, "depth_zbuffer", "png", "mask8"),
)
_EXTRA_TAIL = (
    Domain("camera_pose", "point_info", "point_info", "json", "point_info"),
    Domain("rgb_noised", "rgb_noised", "rgb_noised", "png", "rgb8", released=False),
    Domain("rgb_gray", "rgb_gray", "rgb_gray", "png", "rgb8", released=False),
    Domain("rgb_masked", "rgb_masked", "rgb_masked", "png", "rgb8", released=False),
    Domain("rgb_jigsaw", "rgb_jigsaw", "rgb_jigsaw", "png", "rgb8", released=False),
)
# every registered task's label comes from its TaskSpec.layout (TaskSpec refuses a label
# without one), so a new task file is exported and imported with no edit here
MULTIVIEW_TASKS = multiview_tasks()
# labels that *are* the clean rgb; rebuilt from rgb/ on import, never written twice
RGB_LABELS = rgb_label_tasks()


def _task_domain(name: str) -> Domain:
    spec = get_task(name)
    lay = spec.layout
    assert lay is not None  # TaskSpec.__post_init__: a label has a layout
    return Domain(name, lay.folder or name, lay.domain or name, lay.ext, lay.codec, lay.released)


_DOMAIN_LIST = [
    *_EXTRA_DOMAINS,
    *(
        _task_domain(t)
        for t in labelled_tasks()
        if t not in MULTIVIEW_TASKS and t not in RGB_LABELS
    ),
    *_EXTRA_TAIL,
]
DOMAINS: dict[str, Domain] = {d.key: d for d in _DOMAIN_LIST}
_NAME = re.compile(r"^point_(\d+)_view_(\d+)_domain_(.+)\.(png|npy|json)$")


def file_name(point: int, view: int, domain: str, ext: str) -> str:
    """``point_0_view_3_domain_depth_zbuffer.png`` style names, as in the released data."""
    return f"point_{point}_view_{view}_domain_{domain}.{ext}"


def tuples_name(task: str) -> str:
    return f"tuples_domain_{task}.json"


# ----------------------------------------------------------------------------- image i/o


def _write_png(path: Path, img: np.ndarray) -> None:
    import imageio.v3 as iio

    iio.imwrite(path, img, extension=".png")


def _read_png(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    if not path.is_file():
        raise input_error(f"layout file {path}", "missing file", "an existing PNG")
    try:
        return np.asarray(iio.imread(path, extension=".png"))
    except Exception as exc:  # any decoder failure is a corrupt file
        raise TaskonomyError(
            f"layout file {path}: unreadable ({type(exc).__name__}); expected a PNG image. "
            "Re-download or re-export it."
        ) from exc


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise input_error(f"layout file {path}", "missing file", "an existing .npy array")
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except Exception as exc:
        raise TaskonomyError(
            f"layout file {path}: unreadable ({type(exc).__name__}); expected a .npy array. "
            "Re-download or re-export it."
        ) from exc


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise input_error(f"layout file {path}", "missing file", "an existing JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:
        raise TaskonomyError(
            f"layout file {path}: unreadable ({type(exc).__name__}); expected JSON. "
            "Re-download or re-export it."
        ) from exc


def _expect(
    path: Path,
    img: np.ndarray,
    dtypes: Sequence[str],
    channels: Sequence[int],
    hw: tuple[int, int] | None,
) -> np.ndarray:
    """Check bit depth, channel count and size; return the image as (H, W, C)."""
    if str(img.dtype) not in dtypes:
        raise input_error(
            f"layout file {path}: pixel type",
            str(img.dtype),
            " or ".join(dtypes)
            + " ("
            + ", ".join({"uint8": "8-bit", "uint16": "16-bit", "bool": "1-bit"}[d] for d in dtypes)
            + " PNG)",
        )
    x = img[..., None] if img.ndim == 2 else img
    if x.ndim != 3 or x.shape[2] not in channels:
        raise input_error(
            f"layout file {path}: image shape",
            tuple(img.shape),
            f"H×W with {' or '.join(map(str, channels))} channel(s)",
        )
    if hw is not None and tuple(x.shape[:2]) != tuple(hw):
        raise input_error(
            f"layout file {path}: image size",
            tuple(x.shape[:2]),
            f"{hw} like the rgb image of this view",
        )
    return x


# ----------------------------------------------------------------------------- codecs


def _depth_encode(label: np.ndarray, valid: np.ndarray | None, z_max: float) -> np.ndarray:
    z = np.expm1(np.asarray(label, dtype=np.float64)[0] * math.log1p(z_max))  # (H, W) metres
    png = np.clip(np.round(z * DEPTH_UNITS_PER_M), 0, DEPTH_INVALID - 1).astype(np.uint16)
    if valid is not None:
        png[~valid[0]] = DEPTH_INVALID
    return png


def _depth_decode(png: np.ndarray, z_max: float) -> tuple[np.ndarray, np.ndarray]:
    raw = png[..., 0].astype(np.float64)
    valid = png[..., 0] != DEPTH_INVALID
    z = raw / DEPTH_UNITS_PER_M
    label = np.where(valid, np.log1p(z) / math.log1p(z_max), 1.0)
    return np.clip(label, 0.0, 1.0).astype(np.float32)[None], valid[None]


def _normal_encode(n: np.ndarray) -> np.ndarray:
    flipped = np.asarray(n, dtype=np.float64) * np.array([1.0, 1.0, -1.0])[:, None, None]
    rgb = np.round((np.clip(flipped, -1.0, 1.0) + 1.0) * 127.5)
    return rgb.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)  # (H, W, 3)


def _normal_decode(img: np.ndarray) -> np.ndarray:
    n = img[..., :3].astype(np.float32).transpose(2, 0, 1) / np.float32(127.5) - 1  # (3, H, W)
    n[2] *= -1
    return n


def _curv_encode(k: np.ndarray, scale: float) -> np.ndarray:
    v = np.round(np.asarray(k, dtype=np.float64) * scale + CURV_ZERO)
    out = np.zeros((k.shape[1], k.shape[2], 3), dtype=np.uint8)
    out[..., :2] = v.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    return out


def _curv_decode(img: np.ndarray, scale: float) -> np.ndarray:
    return ((img[..., :2].astype(np.float32) - CURV_ZERO) / np.float32(scale)).transpose(2, 0, 1)


# ----------------------------------------------------------------------------- export


def export_taskonomy_layout(
    bank: Bank | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    curvature_scale: float | None = None,
    progress: bool = False,
) -> Path:
    """Write every view of ``bank`` in the Taskonomy folder layout under ``out`` (atomic)."""
    bank = open_bank(bank)
    keys = set(bank.keys())
    z_max = float(bank.meta.get("z_max", DEFAULT_Z_MAX))
    if z_max > DEFAULT_Z_MAX:
        raise input_error(
            "bank z_max (metres)",
            z_max,
            f"at most {DEFAULT_Z_MAX} (16-bit PNG in units of 1/512 m)",
        )
    if curvature_scale is None and "principal_curvature" in keys:
        curvature_scale = _auto_curvature_scale(bank)
    scale = float(curvature_scale or DEFAULT_CURVATURE_SCALE)
    if not (math.isfinite(scale) and scale > 0):
        raise input_error("curvature scale", curvature_scale, "a positive number")
    domains = [d for d in _DOMAIN_LIST if d.key in keys]
    multiview = [t for t in MULTIVIEW_TASKS if t in keys and t + VIEWS_SUFFIX in keys]
    _check_exportable(keys, {d.key for d in domains} | set(multiview))
    has_mask = MASK_KEY in keys
    info = {
        "format": "taskonomy-layout-export",
        "version": 1,
        "source_bank": str(bank.path),
        "depth_units_per_metre": DEPTH_UNITS_PER_M,
        "depth_invalid": DEPTH_INVALID,
        "z_max": z_max,
        "curvature_zero": CURV_ZERO,
        "curvature_scale": scale,
        "normal_axes": "R = x (right), G = y (down), B = -z (towards the camera)",
        "point_view": "point = view index within the scene, view = 0",
        "meta": bank.meta,
        "sizes": bank.sizes,
        "buildings": [s["name"] for s in bank.scenes],
        "scene_meta": {s["name"]: s.get("meta", {}) for s in bank.scenes},
        "splits": {k: [bank.scenes[i]["name"] for i in v] for k, v in bank.splits.items()},
        "domains": sorted({d.folder for d in domains} | set(multiview)),
    }
    out = Path(out)
    with atomic_bank_dir(out, force=force, marker=EXPORT_INFO) as tmp:
        bar = progress_bar(progress)
        with bar:
            job = bar.add_task(f"exporting {bank.n_views} views", total=bank.n_scenes)
            for s, scene in enumerate(bank.scenes):
                building = scene["name"]
                for d in {d.folder for d in domains} | set(multiview):
                    (tmp / d / building).mkdir(parents=True, exist_ok=True)
                views = bank.scene_views(s)
                for local, v in enumerate(views):
                    mask = bank.get(MASK_KEY, v) if has_mask else None  # (1, H, W)
                    _export_view(bank, tmp, building, local, v, domains, mask, z_max, scale)
                for task in multiview:
                    _export_tuples(bank, tmp, building, s, task)
                bar.advance(job)
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return out


def _check_exportable(keys: set[str], written: set[str]) -> None:
    """Every labelled task of the bank must reach the layout (never silently dropped)."""
    for t in sorted(keys & set(labelled_tasks())):
        if t in RGB_LABELS:
            if RGB_LABELS[t] not in keys:  # rebuilt from its input images on import
                raise input_error(
                    f"bank task {t!r}", f"no {RGB_LABELS[t]!r} images", "its input images"
                )
        elif t not in written:
            raise input_error(
                f"bank task {t!r}",
                "a label the layout export cannot write",
                f"tasks with a LayoutSpec (multi-view ones with their {t + VIEWS_SUFFIX!r} tuples)",
                "Re-render the bank or add a LayoutSpec to the task file.",
            )


def _auto_curvature_scale(bank: Bank) -> float:
    k = np.abs(bank.get("principal_curvature"))  # (N, 2, H, W)
    if MASK_KEY in bank:
        valid = np.broadcast_to(bank.get(MASK_KEY), k.shape)
        k = k[valid]
    q = float(np.quantile(k, 0.995)) if k.size else 0.0
    return 127.0 / q if q > 0 else DEFAULT_CURVATURE_SCALE


def _export_view(
    bank: Bank,
    root: Path,
    building: str,
    point: int,
    v: int,
    domains: Sequence[Domain],
    mask: np.ndarray | None,
    z_max: float,
    scale: float,
) -> None:
    point_info: dict[str, Any] = {
        "building": building,
        "point_uuid": str(point),
        "view_id": 0,
        "resolution": int(bank.size[0]),
    }
    for d in domains:
        path = root / d.folder / building / file_name(point, 0, d.domain, d.ext)
        x = bank.get(d.key, v)
        if d.codec == "rgb8":
            _write_png(path, np.round(x * 255).astype(np.uint8).transpose(1, 2, 0))
        elif d.codec == "mask8":
            _write_png(path, np.where(x[0], 255, 0).astype(np.uint8))
        elif d.codec == "depth16":
            _write_png(path, _depth_encode(x, mask, z_max))
        elif d.codec == "normal8":
            _write_png(path, _normal_encode(x))
        elif d.codec == "gray8":
            _write_png(path, np.round(np.clip(x[0], 0, 1) * 255).astype(np.uint8))
        elif d.codec == "curv8":
            _write_png(path, _curv_encode(x, scale))
        elif d.codec == "unit16":
            _write_png(path, np.round(np.clip(x[0], 0, 1) * 65535).astype(np.uint16))
        elif d.codec == "ids":
            if x.min() < 0 or x.max() > 65535:
                raise input_error(
                    f"{d.key} ids of view {v}",
                    (int(x.min()), int(x.max())),
                    "ids in [0, 65535] (8/16-bit PNG)",
                )
            _write_png(path, x.astype(np.uint8 if x.max() <= 255 else np.uint16))
        elif d.codec == "npy_vec":
            np.save(path, np.asarray(x, dtype=np.float32))
        elif d.codec == "npy_onehot":
            n = int(bank.sizes.get("n_scene_classes", int(x) + 1))
            np.save(path, np.eye(n, dtype=np.float32)[int(x)])
        elif d.codec == "npy_int":
            np.save(path, np.asarray(x, dtype=np.int64))
        elif d.codec == "point_info":
            if d.key == "room_layout":
                point_info["room_layout"] = [float(a) for a in x]
            elif d.key == "camera_pose":
                point_info["camera_location"] = [float(a) for a in x[:3, 3]]
                point_info["camera_rotation_matrix"] = [[float(a) for a in r] for r in x[:3, :3]]
            elif d.key == "vanishing_point":
                point_info["vanishing_points_gaussian_sphere"] = {
                    "x": [float(a) for a in x[0:3]],
                    "y": [float(a) for a in x[3:6]],
                    "z": [float(a) for a in x[6:9]],
                }
            else:
                raise TaskonomyError(f"layout export: no point_info field for {d.key!r}.")
        else:  # a codec added to LayoutCodec without an encoder here
            raise TaskonomyError(f"layout export: no encoder for codec {d.codec!r} ({d.key}).")
    scene_meta = bank.scene_meta(int(bank.scene_of_view(v)))
    if "scene_class" in scene_meta:
        point_info["scene_class"] = scene_meta["scene_class"]
    if "fov_deg" in scene_meta:
        point_info["field_of_view_rads"] = math.radians(float(scene_meta["fov_deg"]))
    path = root / "point_info" / building / file_name(point, 0, "point_info", "json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(point_info) + "\n", encoding="utf-8")


def _export_tuples(bank: Bank, root: Path, building: str, scene: int, task: str) -> None:
    a, b = bank.scenes[scene]["tuples"].get(task, [0, 0])
    first = bank.scenes[scene]["views"][0]
    views = np.asarray(bank.raw(task + VIEWS_SUFFIX)[a:b], dtype=np.int64) - first  # (P, k)
    labels = bank.get(task, slice(a, b))
    doc = {
        "task": task,
        "views": [[[int(p), 0] for p in row] for row in views],
        "labels": np.asarray(labels).tolist(),
    }
    (root / task / building / tuples_name(task)).write_text(
        json.dumps(doc) + "\n", encoding="utf-8"
    )


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ViewId:
    building: str
    point: int
    view: int


class TaskonomyLayout:
    """Index and decode a Taskonomy/Omnidata layout folder.

    ``read(key, view_id)`` returns the label in this project's convention (the bank's
    decoded form): e.g. ``depth_zbuffer`` → (1, H, W) float32 log-depth in [0, 1].

    Parameters
    ----------
    root: the layout folder (holds ``rgb/``).
    z_max: metres mapped to depth label 1 (default: the export info's, else 128 m).
    curvature_scale: pixel units per 1/m (default: the export info's, else 32).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        z_max: float | None = None,
        curvature_scale: float | None = None,
    ) -> None:
        self.root = Path(root)
        rgb = self.root / "rgb"
        if not rgb.is_dir():
            raise input_error(
                "Taskonomy layout folder",
                str(self.root),
                "a folder with an rgb/ sub-folder of point_*_domain_rgb.png files",
            )
        info_path = self.root / EXPORT_INFO
        self.info: dict[str, Any] = _read_json(info_path) if info_path.is_file() else {}
        self.z_max = float(z_max or self.info.get("z_max", DEFAULT_Z_MAX))
        self.curvature_scale = float(
            curvature_scale or self.info.get("curvature_scale", DEFAULT_CURVATURE_SCALE)
        )
        self.views: list[ViewId] = []
        for f in sorted(rgb.rglob("point_*_domain_rgb.png")):
            m = _NAME.match(f.name)
            if m is None:
                continue
            building = f.parent.relative_to(rgb).as_posix()
            self.views.append(ViewId(building, int(m.group(1)), int(m.group(2))))
        if not self.views:
            raise input_error(
                f"Taskonomy layout folder {rgb}",
                "no rgb images",
                "files named point_<P>_view_<V>_domain_rgb.png",
            )
        self.views.sort(key=lambda x: (x.building, x.point, x.view))
        self.buildings = sorted({x.building for x in self.views})
        self._hw: dict[ViewId, tuple[int, int]] = {}

    def path(self, key: str, vid: ViewId) -> Path:
        d = self._domain(key)
        return self.root / d.folder / vid.building / file_name(vid.point, vid.view, d.domain, d.ext)

    def available(self) -> list[str]:
        """Keys whose folder exists (point_info keys when its first file has them)."""
        out = []
        for d in _DOMAIN_LIST:
            if not (self.root / d.folder).is_dir():
                continue
            if d.codec == "point_info":
                first = self.path(d.key, self.views[0])
                doc = _read_json(first) if first.is_file() else {}
                if _POINT_INFO_FIELDS[d.key] not in doc:
                    continue
            out.append(d.key)
        out += [t for t in MULTIVIEW_TASKS if (self.root / t).is_dir()]
        return out

    def size(self, vid: ViewId) -> tuple[int, int]:
        if vid not in self._hw:
            img = _expect(
                self.path("rgb", vid), _read_png(self.path("rgb", vid)), ("uint8",), (3, 4), None
            )
            self._hw[vid] = (int(img.shape[0]), int(img.shape[1]))
        return self._hw[vid]

    def read(self, key: str, vid: ViewId) -> np.ndarray:
        """The decoded label/image ``key`` of one view (see the module table)."""
        d = self._domain(key)
        path = self.path(key, vid)
        if d.codec == "point_info":
            doc = _read_json(path)
            return _point_info_value(path, doc, key)
        if d.ext == "npy":
            return _npy_value(path, _read_npy(path), d.codec, key)
        hw = None if key == "rgb" else self.size(vid)
        img = _read_png(path)
        if d.codec == "rgb8":
            x = _expect(path, img, ("uint8",), (3, 4), hw)
            if key == "rgb":
                self._hw[vid] = (int(x.shape[0]), int(x.shape[1]))
            return x[..., :3].transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        if d.codec == "mask8":
            x = _expect(path, img, ("uint8", "uint16", "bool"), (1,), hw)
            half = {"uint8": 127, "uint16": 32767, "bool": 0}[str(x.dtype)]
            return (x[..., 0] > half)[None]
        if d.codec == "depth16":
            x = _expect(path, img, ("uint16",), (1,), hw)
            return _depth_decode(x, self.z_max)[0]
        if d.codec == "normal8":
            x = _expect(path, img, ("uint8",), (3, 4), hw)
            return _normal_decode(x)
        if d.codec == "gray8":
            x = _expect(path, img, ("uint8",), (1, 3, 4), hw)
            return x[..., :1].transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        if d.codec == "curv8":
            x = _expect(path, img, ("uint8",), (3, 4), hw)
            return _curv_decode(x, self.curvature_scale)
        if d.codec == "unit16":
            x = _expect(path, img, ("uint16",), (1,), hw)
            return x[..., 0][None].astype(np.float32) / np.float32(65535)
        # ids
        x = _expect(path, img, ("uint8", "uint16"), (1,), hw)
        return x[..., 0].astype(np.int64)

    def valid_mask(self, vid: ViewId) -> np.ndarray | None:
        """(1, H, W) validity: the mask_valid file, else depth ≠ 65535, else None."""
        if (self.root / MASK_KEY).is_dir():
            return self.read(MASK_KEY, vid)
        for key in ("depth_zbuffer", "depth_euclidean"):
            if (self.root / key).is_dir():
                path = self.path(key, vid)
                x = _expect(path, _read_png(path), ("uint16",), (1,), self.size(vid))
                return _depth_decode(x, self.z_max)[1]
        return None

    def read_tuples(
        self, task: str, building: str
    ) -> tuple[list[list[tuple[int, int]]], np.ndarray]:
        """A building's tuples of ``task``: [(point, view), ...] per tuple, and the labels."""
        if task not in MULTIVIEW_TASKS:
            raise input_error("multi-view task", task, one_of(MULTIVIEW_TASKS))
        path = self.root / task / building / tuples_name(task)
        doc = _read_json(path)
        try:
            views = [[(int(p), int(v)) for p, v in row] for row in doc["views"]]
            spec = get_task(task).label
            assert spec is not None
            labels = np.asarray(doc["labels"], dtype=np.dtype(spec.dtype))
            shape = spec.resolve({})
            if labels.shape != (len(views), *shape):
                raise ValueError(f"labels shape {labels.shape}, expected {(len(views), *shape)}")
            if len({len(r) for r in views}) > 1 or (
                views and len(views[0]) != get_task(task).views
            ):
                raise ValueError(f"each tuple must list {get_task(task).views} (point, view) pairs")
        except (KeyError, TypeError, ValueError) as exc:
            raise TaskonomyError(
                f"layout file {path}: malformed ({exc}); expected "
                '{"views": [[[P, V], ...], ...], "labels": [...]}.'
            ) from exc
        return views, labels

    def _domain(self, key: str) -> Domain:
        if key not in DOMAINS:
            raise input_error("layout domain", key, one_of(DOMAINS))
        return DOMAINS[key]


def _npy_value(path: Path, arr: np.ndarray, codec: Codec, key: str) -> np.ndarray:
    if codec == "npy_int":
        if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
            raise input_error(
                f"layout file {path}: array", f"{arr.dtype}{arr.shape}", "a 0-d integer array"
            )
        return np.asarray(arr, dtype=np.int64)
    if arr.ndim == 0 and codec == "npy_onehot" and np.issubdtype(arr.dtype, np.integer):
        return np.asarray(arr, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise input_error(
            f"layout file {path}: array",
            f"{arr.dtype}{arr.shape}",
            f"a finite 1-D float vector ({key} scores)",
        )
    if codec == "npy_onehot":
        return np.asarray(int(np.argmax(arr)), dtype=np.int64)
    return arr.astype(np.float32)


_POINT_INFO_FIELDS = {
    "room_layout": "room_layout",
    "vanishing_point": "vanishing_points_gaussian_sphere",
    "camera_pose": "camera_rotation_matrix",
}


def _point_info_value(path: Path, doc: Any, key: str) -> np.ndarray:
    field = _POINT_INFO_FIELDS[key]
    try:
        if key == "room_layout":
            x = np.asarray(doc["room_layout"], dtype=np.float32)
            shape: tuple[int, ...] = (9,)
        elif key == "camera_pose":
            x = np.eye(4, dtype=np.float32)
            x[:3, :3] = np.asarray(doc["camera_rotation_matrix"], dtype=np.float32)
            x[:3, 3] = np.asarray(doc["camera_location"], dtype=np.float32)
            shape = (4, 4)
        else:
            vp = doc["vanishing_points_gaussian_sphere"]
            x = np.asarray([*vp["x"], *vp["y"], *vp["z"]], dtype=np.float32)
            shape = (9,)
        if x.shape != shape or not np.isfinite(x).all():
            raise ValueError(f"{x.shape} values")
    except (KeyError, TypeError, ValueError) as exc:
        raise TaskonomyError(
            f"layout file {path}: field {field!r} missing or malformed ({exc}); "
            f"expected finite numbers ({key})."
        ) from exc
    return x


# ----------------------------------------------------------------------------- import


def import_taskonomy_layout(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tasks: Sequence[str] | None = None,
    force: bool = False,
    on_missing: Literal["error", "skip"] = "error",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    z_max: float | None = None,
    curvature_scale: float | None = None,
    progress: bool = False,
) -> Path:
    """Convert a Taskonomy-layout folder into a bank (one scene per building).

    ``tasks``: canonical/2018 names to import (default: every domain present). The rgb-valued
    labels (autoencoding, denoising, colorization, inpainting) are rebuilt from the images
    when their input folder exists. Splits come from ``taskonomy_export.json`` when it
    covers the buildings, else from ``fractions``/``seed`` by building.
    """
    if on_missing not in ("error", "skip"):
        raise input_error("on_missing", on_missing, "'error' or 'skip'")
    layout = TaskonomyLayout(src, z_max=z_max, curvature_scale=curvature_scale)
    avail = layout.available()
    keys = _import_keys(layout, avail, tasks)
    file_keys = [k for k in keys if k in DOMAINS and k != "rgb"]
    multiview = [k for k in keys if k in MULTIVIEW_TASKS]
    masked = any(
        (spec := get_task(k).label) is not None and spec.masked for k in keys if k in TASKS
    )
    need_mask = masked or MASK_KEY in avail
    # files every kept view must have (the mask file too, when the layout has masks)
    check_keys = file_keys + ([MASK_KEY] if need_mask and MASK_KEY in avail else [])

    # which views are complete (missing files: error or skip)
    skipped: list[str] = []
    per_building: dict[str, list[ViewId]] = {}
    for vid in layout.views:
        missing = [layout.path(k, vid) for k in check_keys if not layout.path(k, vid).is_file()]
        if missing:
            if on_missing == "error":
                raise input_error(
                    f"layout file {missing[0]}",
                    "missing file",
                    f"one file per view for every imported domain ({len(missing)} "
                    "missing for this view)",
                    "Pass on_missing='skip' to drop incomplete views.",
                )
            skipped.append(f"{vid.building}/point_{vid.point}_view_{vid.view}")
            continue
        per_building.setdefault(vid.building, []).append(vid)
    buildings = [b for b in layout.buildings if b in per_building]
    if not buildings:
        raise input_error(
            f"Taskonomy layout {layout.root}",
            "no complete views",
            "at least one view with every imported domain",
        )
    tuples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for b in buildings:
        local = {(v.point, v.view): i for i, v in enumerate(per_building[b])}
        for task in multiview:
            path = layout.root / task / b / tuples_name(task)
            if not path.is_file():
                if on_missing == "skip":
                    skipped.append(f"{task}/{b}")
                    views_arr = np.zeros((0, get_task(task).views), dtype=np.int64)
                    spec = get_task(task).label
                    assert spec is not None
                    tuples[(b, task)] = (views_arr, np.zeros((0, *spec.resolve({})), spec.dtype))
                    continue
                raise input_error(
                    f"layout file {path}", "missing file", f"the {task} tuples of building {b}"
                )
            rows, labels = layout.read_tuples(task, b)
            keep = [all(pv in local for pv in row) for row in rows]
            if not all(keep) and on_missing == "error":
                bad = rows[keep.index(False)]
                raise input_error(
                    f"layout file {path}: tuple",
                    bad,
                    "(point, view) pairs that exist in rgb/ of this building",
                )
            idx = np.asarray(
                [[local[pv] for pv in row] for row, k in zip(rows, keep, strict=True) if k],
                dtype=np.int64,
            ).reshape(-1, get_task(task).views)
            tuples[(b, task)] = (idx, labels[np.asarray(keep, dtype=bool)])

    info_meta = dict(layout.info.get("meta", {}))
    info_scene_meta: Mapping[str, Any] = layout.info.get("scene_meta", {})
    splits = _import_splits(layout, buildings, fractions, seed)
    generator = {
        "renderer": "taskonomy-layout-import",
        "source": str(layout.root),
        "seed": seed,
        "z_max": layout.z_max,
        "curvature_scale": layout.curvature_scale,
        "skipped": skipped,
    }
    out = Path(out)
    with atomic_bank_dir(out, force=force) as tmp:
        writer = BankWriter(tmp, [len(per_building[b]) for b in buildings])
        bar = progress_bar(progress)
        with bar:
            job = bar.add_task(f"importing {len(buildings)} buildings", total=len(buildings))
            for b in buildings:
                arrays = _read_building(layout, per_building[b], keys, file_keys, need_mask)
                for task in multiview:
                    idx, labels = tuples[(b, task)]
                    arrays[task + VIEWS_SUFFIX] = idx
                    arrays[task] = labels
                meta = {**info_meta, **info_scene_meta.get(b, {}), "z_max": layout.z_max}
                if "class_object" in arrays:
                    meta.setdefault("n_object_classes", int(arrays["class_object"].shape[1]))
                if "class_scene" in arrays and "n_scene_classes" not in meta:
                    first = layout.path("class_scene", per_building[b][0])
                    meta["n_scene_classes"] = int(_read_npy(first).size)
                writer.add_scene(arrays, meta, name=b)
                bar.advance(job)
        writer.finalize(splits=splits, generator=generator)
    return out


def _import_keys(
    layout: TaskonomyLayout, avail: Sequence[str], tasks: Sequence[str] | None
) -> list[str]:
    from taskonomy.tasks import canonical_name

    inputs_present = {k for k in avail if k.startswith("rgb")}
    derivable = [t for t, inp in RGB_LABELS.items() if inp in inputs_present]
    if tasks is None:
        wanted = [k for k in avail if k != MASK_KEY] + derivable
    else:
        wanted = ["rgb"]
        for t in tasks:
            name = canonical_name(t)
            spec = get_task(name)
            if name not in avail and name not in derivable:
                raise input_error(
                    f"task in layout {layout.root}",
                    name,
                    "a task with files there: " + ", ".join(sorted(set(avail) | set(derivable))),
                )
            wanted.append(name)
            if spec.input != "rgb":
                wanted.append(spec.input)
    keys = list(dict.fromkeys(["rgb", *wanted]))
    return keys


def _read_building(
    layout: TaskonomyLayout,
    vids: Sequence[ViewId],
    keys: Sequence[str],
    file_keys: Sequence[str],
    need_mask: bool,
) -> dict[str, np.ndarray]:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in keys if k in DOMAINS}
    masks: list[np.ndarray] = []
    for vid in vids:
        cols["rgb"].append(layout.read("rgb", vid))
        for k in file_keys:
            if k != MASK_KEY:
                cols[k].append(layout.read(k, vid))
        if need_mask:
            m = layout.valid_mask(vid)
            masks.append(m if m is not None else np.ones((1, *layout.size(vid)), dtype=bool))
    arrays = {k: np.stack(v) for k, v in cols.items() if v}
    if masks:
        arrays[MASK_KEY] = np.stack(masks)  # (V, 1, H, W)
    for task, inp in RGB_LABELS.items():
        if task in keys:
            arrays[task] = arrays["rgb"]
            if inp not in arrays:
                raise TaskonomyError(f"task {task!r}: got no {inp!r} images; expected {inp}/.")
    return arrays


def _import_splits(
    layout: TaskonomyLayout, buildings: Sequence[str], fractions: Sequence[float], seed: int
) -> dict[str, list[int]]:
    named = layout.info.get("splits")
    index = {b: i for i, b in enumerate(buildings)}
    if isinstance(named, dict):
        out = {s: sorted(index[b] for b in named.get(s, []) if b in index) for s in named}
        if sum(len(v) for v in out.values()) == len(buildings):
            return out
    return split_scenes(len(buildings), seed, fractions)


__all__ = [
    "DEFAULT_Z_MAX",
    "DEPTH_UNITS_PER_M",
    "DOMAINS",
    "EXPORT_INFO",
    "MULTIVIEW_TASKS",
    "Domain",
    "TaskonomyLayout",
    "ViewId",
    "export_taskonomy_layout",
    "file_name",
    "import_taskonomy_layout",
]


def layout_fingerprint(src: str | os.PathLike[str]) -> str:
    """A cheap content fingerprint of a Taskonomy-layout folder (SHA-256, hex).

    It covers every file under ``src`` (symlinks followed, hidden names included): its
    relative path, size in bytes and modification time in nanoseconds, and nothing is read.
    Adding, removing, renaming, resizing or rewriting a file changes it (a rewrite updates
    the mtime); touching a file without changing it does too, which only costs a re-import.
    The pipeline puts it in the data job's params, so a changed folder is imported again.
    """
    root = Path(src)
    if not root.is_dir():
        raise input_error(
            "Taskonomy layout folder", str(root), "an existing directory", "Check data.path."
        )
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            st = path.stat()
            rel = path.relative_to(root).as_posix()
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()

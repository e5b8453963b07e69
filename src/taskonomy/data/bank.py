"""The image bank: many rendered scenes on disk, one memory-mapped array per key.

Format (``format_version`` 1)
=============================

A bank is a directory::

    BANK/
      manifest.json            # everything needed to interpret the arrays (below)
      rgb.npy                  # (N, 3, H, W) uint8, one row per view (N = all views of all scenes)
      rgb_noised.npy ...       # other network inputs, same layout
      mask_valid.npy           # (N, 1, H, W) bool
      depth_zbuffer.npy ...    # one file per single-view label, leading dim N
      fixated_pose.views.npy   # (P, 2) int32: GLOBAL view indices (rows of rgb.npy) of each tuple
      fixated_pose.npy         # (P, 6) float32: the tuple's label
      camera_pose.npy          # (N, 4, 4) float32 camera-to-world (see below)

Every ``.npy`` is a plain NumPy file, so ``np.load(path, mmap_mode="r")`` maps it without
reading it; :class:`Bank` does exactly that and decodes rows on access.

``manifest.json`` holds: ``format``/``format_version``; ``generator`` (renderer name, its
config, the global seed and split fractions); ``sizes`` (H, W, view/scene counts and the
class counts that resolve :class:`~taskonomy.tasks.spec.LabelSpec` symbols); ``meta`` (the
scene metadata shared by every scene: class lists, ``z_max``, jigsaw permutations, camera
intrinsics ``K``/``fov_deg``); ``scenes`` (per scene: id, name, its seed, ``views`` =
[start, stop) global view range, ``tuples`` = per multi-view task [start, stop) row range,
and the metadata that differs between scenes, e.g. ``scene_class``); ``splits``
(``large``/``small``/``test`` → scene ids; a scene's views never straddle splits);
``arrays`` (per key: file, kind, stored dtype and shape, encoding, decoded dtype and range).

Storage encodings (chosen per key from the task's :class:`LabelSpec`; ``decode`` inverts them)
------------------------------------------------------------------------------------------------

=========  ==========================================  ========================================
encoding   used for                                    precision after decoding
=========  ==========================================  ========================================
``u8``     images in [0, 1] (rgb, inputs, and the      1/510 (half a step of 1/255); the
           image labels autoencoding/denoising/...)    image labels equal to ``rgb`` are stored
                                                       once, as an ``alias`` of ``rgb.npy``
``u16``    dense bounded float labels (depth, normal,  (high − low)/131070, e.g. 7.6e-6 on
           edges, keypoints, reshading)                [0, 1] and 1.5e-5 on [−1, 1]
``f16``    dense unbounded float labels (curvature)    relative 4.9e-4 (float16), |x| ≤ 65504
``f32``    small vectors (class_object, room_layout,   exact (float32)
           vanishing_point, poses)
``int``    integer labels: int16 (segment and class    exact; a value that does not fit is
           ids, jigsaw, matching); tuple views int32   refused on write, never wrapped
``bool``   mask_valid                                  exact
=========  ==========================================  ========================================

Writes are atomic at the directory level: :func:`atomic_bank_dir` builds the bank in a hidden
temporary directory beside the target and renames it into place only after ``manifest.json``
is written, so an interrupted run never leaves a directory that opens as a bank.

Keys starting with ``"_"`` (renderer-internal geometry) are not stored, with one exception
made by :mod:`taskonomy.data.generate`: the renderer's ``_cam_pose`` is kept as
``camera_pose.npy`` (N, 4, 4) float32 camera-to-world (64 bytes a view), which the Taskonomy
layout export writes into ``point_info`` and which lets anyone check the pose labels.

This module imports no torch; :mod:`taskonomy.data.dataset` adds the torch view.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.io import atomic_write_text
from taskonomy.tasks import TASKS, class_count_names, get_task
from taskonomy.tasks.spec import MASK_KEY, LabelSpec

FORMAT = "taskonomy-bank"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("large", "small", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)

Encoding = Literal["u8", "u16", "f16", "f32", "int", "bool"]
Kind = Literal["view", "tuple_views", "tuple_label"]

# Network inputs the renderer provides besides the labels (TaskSpec.input values).
IMAGE_KEYS = ("rgb", "rgb_noised", "rgb_gray", "rgb_masked", "rgb_jigsaw")
VIEWS_SUFFIX = "/views"
F16_MAX = 65504.0


# ----------------------------------------------------------------------------- encodings


@dataclass(frozen=True)
class KeyFormat:
    """How one key is stored and decoded."""

    encoding: Encoding
    stored_dtype: str
    decoded_dtype: str
    low: float | None = None
    high: float | None = None

    def encode(self, x: np.ndarray, where: str) -> np.ndarray:
        """Convert a rendered array to its stored form; refuse values that would be corrupted."""
        x = np.asarray(x)
        if self.encoding == "bool":
            if x.dtype != np.bool_:
                raise TaskonomyError(f"{where}: got dtype {x.dtype}; expected bool.")
            return x
        if self.encoding == "int":
            if not np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_:
                raise input_error(f"{where}: dtype", str(x.dtype), "an integer array")
            info = np.iinfo(np.dtype(self.stored_dtype))
            if x.size and (int(x.min()) < info.min or int(x.max()) > info.max):
                raise input_error(
                    f"{where}: values",
                    (int(x.min()), int(x.max())),
                    f"integers within [{info.min}, {info.max}] ({self.stored_dtype} storage)",
                    "The renderer produced an out-of-range label.",
                )
            return x.astype(self.stored_dtype)
        xf = np.asarray(x, dtype=np.float64)
        if xf.size and not np.isfinite(xf).all():
            raise TaskonomyError(
                f"{where}: got non-finite values (NaN/inf); expected finite numbers. "
                "The renderer produced a corrupt label."
            )
        if self.low is not None or self.high is not None:
            lo = -math.inf if self.low is None else self.low
            hi = math.inf if self.high is None else self.high
            tol = 1e-4 * max(1.0, hi - lo if math.isfinite(hi - lo) else 1.0)
            if xf.size and (xf.min() < lo - tol or xf.max() > hi + tol):
                raise input_error(
                    f"{where}: value range",
                    (float(xf.min()), float(xf.max())),
                    f"values within [{lo}, {hi}]",
                    "The renderer produced an out-of-range label.",
                )
        if self.encoding == "u8":
            return np.round(np.clip(xf, 0.0, 1.0) * 255.0).astype(np.uint8)
        if self.encoding == "u16":
            assert self.low is not None and self.high is not None
            unit = (np.clip(xf, self.low, self.high) - self.low) / (self.high - self.low)
            return np.round(unit * 65535.0).astype(np.uint16)
        if self.encoding == "f16":
            if xf.size and np.abs(xf).max() > F16_MAX:
                raise input_error(
                    f"{where}: largest magnitude",
                    float(np.abs(xf).max()),
                    f"at most {F16_MAX} (float16 storage)",
                )
            return xf.astype(np.float16)
        return xf.astype(np.float32)

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """Stored rows → the label convention (LabelSpec dtype and range)."""
        if self.encoding == "u8":
            return np.asarray(stored, dtype=np.float32) * np.float32(1.0 / 255.0)
        if self.encoding == "u16":
            assert self.low is not None and self.high is not None
            unit = np.asarray(stored, dtype=np.float32) * np.float32(1.0 / 65535.0)
            return (unit * np.float32(self.high - self.low) + np.float32(self.low)).astype(
                np.float32
            )
        # a copy: rows of a read-only memory map must not leak out as views
        return np.array(stored, dtype=self.decoded_dtype)

    def to_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "dtype": self.stored_dtype,
            "decoded_dtype": self.decoded_dtype,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> KeyFormat:
        return cls(
            encoding=d["encoding"],
            stored_dtype=d["dtype"],
            decoded_dtype=d["decoded_dtype"],
            low=d.get("low"),
            high=d.get("high"),
        )


def _label_format(spec: LabelSpec, dense: bool) -> KeyFormat:
    if spec.dtype == "bool":
        return KeyFormat("bool", "bool", "bool")
    if spec.dtype == "int64":
        # segment/class ids, jigsaw indices and {0, 1} matches stay well below 2**15;
        # encode() refuses anything that does not fit rather than wrapping around
        return KeyFormat("int", "int16", "int64")
    if not dense:
        return KeyFormat("f32", "float32", "float32", spec.low, spec.high)
    if spec.low is not None and spec.high is not None:
        return KeyFormat("u16", "uint16", "float32", float(spec.low), float(spec.high))
    return KeyFormat("f16", "float16", "float32", spec.low, spec.high)


def key_format(key: str, array: np.ndarray) -> KeyFormat:
    """The storage format of one rendered key (see the module docstring's table)."""
    if key in IMAGE_KEYS:
        return KeyFormat("u8", "uint8", "float32", 0.0, 1.0)
    if key == MASK_KEY:
        return KeyFormat("bool", "bool", "bool")
    if key.endswith(VIEWS_SUFFIX):
        return KeyFormat("int", "int32", "int64")
    if key in TASKS:
        spec = get_task(key).label
        if spec is not None:
            dense = "H" in spec.shape
            if dense and spec.shape[0] == 3 and spec.low == 0 and spec.high == 1:
                # the image-valued labels (autoencoding, denoising, ...): clean rgb
                return KeyFormat("u8", "uint8", "float32", 0.0, 1.0)
            return _label_format(spec, dense)
    # An extra key the registry does not know: keep it faithfully.
    if array.dtype == np.bool_:
        return KeyFormat("bool", "bool", "bool")
    if np.issubdtype(array.dtype, np.integer):
        return KeyFormat("int", "int32", "int64")
    return KeyFormat("f32", "float32", "float32")


def key_file(key: str) -> str:
    """File name of a key: ``fixated_pose/views`` → ``fixated_pose.views.npy``."""
    return key.replace("/", ".") + ".npy"


# ----------------------------------------------------------------------------- splits


def split_scenes(
    n_scenes: int, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> dict[str, list[int]]:
    """Assign whole scenes to ``large``/``small``/``test``, deterministically from ``seed``.

    Counts follow ``fractions`` (largest remainder); with at least three scenes, every split
    with a positive fraction gets at least one scene.
    """
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or any(f < 0 or not math.isfinite(f) for f in fr) or sum(fr) <= 0:
        raise input_error(
            "split fractions",
            tuple(fractions),
            "three non-negative numbers (large, small, test) with a positive sum",
            "E.g. 0.6,0.2,0.2.",
        )
    if n_scenes < 1:
        raise input_error("number of scenes", n_scenes, "at least 1")
    total = sum(fr)
    exact = [f / total * n_scenes for f in fr]
    counts = [math.floor(e) for e in exact]
    # largest remainder, ties broken by split order
    order = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n_scenes - sum(counts)]:
        counts[i] += 1
    positive = [i for i in range(3) if fr[i] > 0]
    if n_scenes >= len(positive):
        for i in positive:
            while counts[i] == 0:
                donor = max(range(3), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31 - 1,)))
    perm = rng.permutation(n_scenes)
    out: dict[str, list[int]] = {}
    start = 0
    for name, c in zip(SPLITS, counts, strict=True):
        out[name] = sorted(int(s) for s in perm[start : start + c])
        start += c
    return out


def scene_seed(seed: int, index: int) -> int:
    """The seed of scene ``index`` under a global ``seed`` (independent of the scene count)."""
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])


# ----------------------------------------------------------------------------- writing


@contextmanager
def atomic_bank_dir(
    target: str | os.PathLike[str], force: bool = False, marker: str = MANIFEST
) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``target``; move it into place on success.

    Refuses an existing non-empty ``target`` unless ``force``; even with ``force`` it only
    replaces a directory holding ``marker`` (a bank's manifest, an export's info file), so
    a mistyped ``--out`` never deletes unrelated files. On any exception (including
    KeyboardInterrupt) the temporary directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    occupied = target.exists() and (not target.is_dir() or any(target.iterdir()))
    if occupied and not force:
        raise input_error(
            "output directory",
            str(target),
            "a path that does not exist yet (or is empty)",
            "Pass --force to replace it, or choose another --out.",
        )
    if occupied and not (target / marker).is_file():
        raise input_error(
            "output directory to replace",
            str(target),
            f"an earlier output of this command (a directory with {marker})",
            "Refusing to delete other files; choose another --out.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            # move the old one aside first so the target is never missing and never mixed
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class BankWriter:
    """Write scenes one at a time into a bank directory (use :func:`atomic_bank_dir` around it).

    Parameters
    ----------
    path: the (temporary) directory to write into.
    view_counts: number of views of each scene, in scene order (fixes N up front so the
        per-view arrays can be written in place through ``open_memmap``).
    """

    def __init__(self, path: str | os.PathLike[str], view_counts: Sequence[int]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.view_counts = [int(v) for v in view_counts]
        if not self.view_counts or min(self.view_counts) < 1:
            raise input_error("views per scene", view_counts, "a non-empty list of positive counts")
        self.starts = np.concatenate([[0], np.cumsum(self.view_counts)]).astype(int)
        self.n_views = int(self.starts[-1])
        self._next = 0
        self._formats: dict[str, KeyFormat] = {}
        self._view_arrays: dict[str, np.memmap] = {}
        self._view_shape: dict[str, tuple[int, ...]] = {}
        self._same_as_rgb: dict[str, bool] = {}
        self._tuples: dict[str, list[np.ndarray]] = {}
        self._tuple_rows: dict[str, int] = {}
        self._scenes: list[dict[str, Any]] = []
        self._metas: list[dict[str, Any]] = []

    def add_scene(
        self,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any],
        *,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        """Append the next scene: ``arrays`` as in the renderer contract, ``meta`` JSON-able."""
        i = self._next
        if i >= len(self.view_counts):
            raise TaskonomyError(
                f"bank writer: got scene {i}; expected at most {len(self.view_counts)} scenes."
            )
        v = self.view_counts[i]
        s0 = int(self.starts[i])
        keys = {k: a for k, a in arrays.items() if not k.startswith("_")}
        if "rgb" not in keys:
            raise input_error(f"scene {i}: keys", sorted(keys), "an 'rgb' array among them")
        tuple_tasks = sorted(k[: -len(VIEWS_SUFFIX)] for k in keys if k.endswith(VIEWS_SUFFIX))
        for t in tuple_tasks:
            if t not in keys:
                raise TaskonomyError(
                    f"scene {i}: got {t}{VIEWS_SUFFIX} without its label {t!r}; "
                    "expected both (tuple views and their labels)."
                )
        if i == 0:
            self._first_keys = sorted(keys)
        elif sorted(keys) != self._first_keys:
            raise input_error(
                f"scene {i}: keys", sorted(keys), f"the same keys as scene 0: {self._first_keys}"
            )
        scene: dict[str, Any] = {
            "id": i,
            "name": name if name is not None else f"scene_{i:05d}",
            "views": [s0, s0 + v],
            "tuples": {},
        }
        if seed is not None:
            scene["seed"] = int(seed)
        # rgb first: the image-valued labels are compared against it
        for key in sorted(keys, key=lambda k: (k != "rgb", k)):
            arr = np.asarray(keys[key])
            where = f"scene {i} key {key!r}"
            base = key[: -len(VIEWS_SUFFIX)] if key.endswith(VIEWS_SUFFIX) else key
            if key.endswith(VIEWS_SUFFIX):
                if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                    raise input_error(
                        f"{where}: array",
                        f"{arr.dtype}{arr.shape}",
                        "an integer array (P, k) of view indices",
                    )
                if arr.size and (arr.min() < 0 or arr.max() >= v):
                    raise input_error(
                        f"{where}: view index range",
                        (int(arr.min()), int(arr.max())),
                        f"indices in [0, {v})",
                    )
                stored = self._fmt(key, arr).encode(arr.astype(np.int64) + s0, where)
                start = self._tuple_rows.get(key, 0)
                self._append_tuple(key, stored)
                scene["tuples"][base] = [start, start + len(stored)]
                continue
            if base in tuple_tasks:
                n_tuples = len(np.asarray(keys[base + VIEWS_SUFFIX]))
                if arr.shape[:1] != (n_tuples,):
                    raise input_error(
                        f"{where}: leading dim",
                        arr.shape[:1],
                        f"({n_tuples},), one label per tuple",
                    )
                self._append_tuple(key, self._fmt(key, arr).encode(arr, where))
                continue
            if arr.shape[:1] != (v,):
                raise input_error(
                    f"{where}: leading dim", arr.shape[:1], f"({v},), one row per view"
                )
            fmt = self._fmt(key, arr)
            stored = fmt.encode(arr, where)
            out = self._view_array(key, fmt, stored.shape[1:], where)
            out[s0 : s0 + v] = stored
            if fmt.encoding == "u8" and key not in IMAGE_KEYS:
                rgb = self._view_arrays["rgb"][s0 : s0 + v] if "rgb" in self._view_arrays else None
                same = rgb is not None and bool(np.array_equal(rgb, stored))
                self._same_as_rgb[key] = self._same_as_rgb.get(key, True) and same
        self._scenes.append(scene)
        self._metas.append(json.loads(json.dumps(dict(meta))))
        self._next += 1

    def _fmt(self, key: str, arr: np.ndarray) -> KeyFormat:
        if key not in self._formats:
            self._formats[key] = key_format(key, arr)
        return self._formats[key]

    def _append_tuple(self, key: str, stored: np.ndarray) -> None:
        prev = self._tuples.setdefault(key, [])
        if prev and prev[0].shape[1:] != stored.shape[1:]:
            raise input_error(
                f"key {key!r}: row shape",
                stored.shape[1:],
                f"{prev[0].shape[1:]} as in earlier scenes",
            )
        prev.append(stored)
        self._tuple_rows[key] = self._tuple_rows.get(key, 0) + len(stored)

    def _view_array(
        self, key: str, fmt: KeyFormat, row_shape: tuple[int, ...], where: str
    ) -> np.memmap:
        if key not in self._view_arrays:
            # rgb first so image labels can be compared against it
            self._view_arrays[key] = np.lib.format.open_memmap(
                self.path / key_file(key),
                mode="w+",
                dtype=np.dtype(fmt.stored_dtype),
                shape=(self.n_views, *row_shape),
            )
            self._view_shape[key] = row_shape
        elif self._view_shape[key] != row_shape:
            raise input_error(
                f"{where}: row shape", row_shape, f"{self._view_shape[key]} as in earlier scenes"
            )
        return self._view_arrays[key]

    def finalize(
        self,
        *,
        splits: Mapping[str, Sequence[int]],
        generator: Mapping[str, Any],
        extra_sizes: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Write the tuple arrays and ``manifest.json`` (last, so a bank is complete or absent)."""
        if self._next != len(self.view_counts):
            raise TaskonomyError(
                f"bank writer: got {self._next} scenes; expected {len(self.view_counts)}."
            )
        arrays: dict[str, Any] = {}
        for key, mm in self._view_arrays.items():
            mm.flush()
            if self._same_as_rgb.get(key, False):
                # identical to rgb in every scene: keep one copy
                del mm
                (self.path / key_file(key)).unlink()
                arrays[key] = {"alias": "rgb", "kind": "view"}
                continue
            arrays[key] = {
                "file": key_file(key),
                "kind": "view",
                "shape": [self.n_views, *self._view_shape[key]],
                **self._formats[key].to_json(),
            }
        self._view_arrays.clear()
        for key, parts in self._tuples.items():
            data = np.concatenate(parts, axis=0)
            np.save(self.path / key_file(key), data)
            kind = "tuple_views" if key.endswith(VIEWS_SUFFIX) else "tuple_label"
            arrays[key] = {
                "file": key_file(key),
                "kind": kind,
                "shape": list(data.shape),
                **self._formats[key].to_json(),
            }
        # scene metadata: what every scene shares goes to "meta", the rest stays per scene
        common: dict[str, Any] = {}
        for k, val in self._metas[0].items():
            if all(m.get(k) == val for m in self._metas[1:]):
                common[k] = val
        for scene, m in zip(self._scenes, self._metas, strict=True):
            own = {k: val for k, val in m.items() if k not in common}
            if own:
                scene["meta"] = own
        rgb_shape = self._view_shape["rgb"]
        sizes: dict[str, int] = {
            "H": int(rgb_shape[-2]),
            "W": int(rgb_shape[-1]),
            "n_views": self.n_views,
            "n_scenes": len(self._scenes),
        }
        for k in class_count_names():  # every size symbol a registered task uses
            if isinstance(common.get(k), int):
                sizes[k] = int(common[k])
        sizes.update({k: int(val) for k, val in (extra_sizes or {}).items()})
        clean_splits = {s: sorted(int(x) for x in splits.get(s, [])) for s in SPLITS}
        seen = [x for s in SPLITS for x in clean_splits[s]]
        if len(seen) != len(set(seen)) or any(x < 0 or x >= len(self._scenes) for x in seen):
            raise input_error(
                "splits", clean_splits, f"disjoint lists of scene ids in [0, {len(self._scenes)})"
            )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generator": dict(generator),
            "sizes": sizes,
            "meta": common,
            "splits": clean_splits,
            "scenes": self._scenes,
            "arrays": dict(sorted(arrays.items())),
        }
        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        return manifest


# ----------------------------------------------------------------------------- reading


class Bank:
    """Read access to a bank directory (memory-mapped, decoded on access).

    >>> bank = Bank("out/bank")                          # doctest: +SKIP
    >>> bank.get("depth_zbuffer", [0, 5]).shape          # doctest: +SKIP
    (2, 1, 64, 64)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not self.path.is_dir():
            raise input_error(
                "bank directory",
                str(self.path),
                "an existing directory",
                "Create one with `taskonomy generate --out DIR`.",
            )
        if not mpath.is_file():
            raise input_error(
                f"bank manifest {mpath}",
                "missing file",
                f"a {MANIFEST} written by `taskonomy generate`",
                "The directory is not a bank, or its generation did not finish.",
            )
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TaskonomyError(
                f"bank manifest {mpath}: unreadable ({exc}); expected JSON. Regenerate the bank."
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise input_error(
                f"bank manifest {mpath}: format",
                manifest.get("format") if isinstance(manifest, dict) else manifest,
                repr(FORMAT),
            )
        if manifest.get("format_version") != FORMAT_VERSION:
            raise input_error(
                f"bank manifest {mpath}: format_version",
                manifest.get("format_version"),
                str(FORMAT_VERSION),
                "Regenerate the bank with this version of taskonomy.",
            )
        self.manifest: dict[str, Any] = manifest
        self.sizes: dict[str, int] = {k: int(v) for k, v in manifest["sizes"].items()}
        self.meta: dict[str, Any] = manifest["meta"]
        self.scenes: list[dict[str, Any]] = manifest["scenes"]
        self.splits: dict[str, list[int]] = manifest["splits"]
        self._spec: dict[str, dict[str, Any]] = manifest["arrays"]
        self._formats = {
            k: KeyFormat.from_json(v) for k, v in self._spec.items() if "alias" not in v
        }
        self._mm: dict[str, np.ndarray] = {}
        self._view_scene = np.repeat(
            np.arange(len(self.scenes)), [s["views"][1] - s["views"][0] for s in self.scenes]
        )
        for key in self._spec:
            self._check_file(key)

    # pickling (DataLoader workers) must not copy the mapped arrays
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mm"] = {}
        return state

    # -- structure ---------------------------------------------------------------

    @property
    def n_views(self) -> int:
        return self.sizes["n_views"]

    @property
    def n_scenes(self) -> int:
        return self.sizes["n_scenes"]

    @property
    def size(self) -> tuple[int, int]:
        return self.sizes["H"], self.sizes["W"]

    def keys(self) -> list[str]:
        """Every stored key (aliases included)."""
        return list(self._spec)

    def view_keys(self) -> list[str]:
        return [k for k, v in self._spec.items() if v["kind"] == "view"]

    def tuple_tasks(self) -> list[str]:
        return [
            k[: -len(VIEWS_SUFFIX)] for k, v in self._spec.items() if v["kind"] == "tuple_views"
        ]

    def tasks(self) -> list[str]:
        """Canonical names of the tasks whose labels this bank holds, dictionary order."""
        have = {k for k in self._spec if not k.endswith(VIEWS_SUFFIX)}
        return [t for t in TASKS if t in have]

    def __contains__(self, key: object) -> bool:
        return key in self._spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._spec)

    def kind(self, key: str) -> Kind:
        return self._entry(key)["kind"]

    def scene_of_view(self, view: int | np.ndarray) -> np.ndarray:
        return self._view_scene[view]

    def scene_views(self, scene: int) -> range:
        a, b = self.scenes[scene]["views"]
        return range(a, b)

    def split_scenes(self, split: str) -> list[int]:
        if split not in self.splits:
            raise input_error("split", split, one_of(SPLITS))
        return list(self.splits[split])

    def split_views(self, split: str) -> np.ndarray:
        """Global view indices of the split's scenes, ascending."""
        scenes = self.split_scenes(split)
        parts = [np.arange(*self.scenes[s]["views"]) for s in scenes]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def tuple_rows(self, task: str, split: str | None = None) -> np.ndarray:
        """Rows of ``task``'s tuple arrays whose views lie in ``split`` (all rows if None)."""
        views = self.raw(task + VIEWS_SUFFIX)
        rows = np.arange(len(views))
        if split is None:
            return rows
        keep = np.isin(self._view_scene[np.asarray(views[:, 0])], self.split_scenes(split))
        return rows[keep]

    def scene_meta(self, scene: int) -> dict[str, Any]:
        """Scene ``scene``'s full metadata (shared + its own)."""
        return {**self.meta, **self.scenes[scene].get("meta", {})}

    def format(self, key: str) -> KeyFormat:
        return self._formats[self._resolve(key)]

    # -- data ----------------------------------------------------------------------

    def raw(self, key: str) -> np.ndarray:
        """The stored (encoded) array of ``key``, memory-mapped."""
        real = self._resolve(key)
        if real not in self._mm:
            self._mm[real] = self._load(real)
        return self._mm[real]

    def get(self, key: str, index: Any = slice(None)) -> np.ndarray:
        """Decoded rows of ``key`` (LabelSpec dtype and range); ``index`` selects rows."""
        real = self._resolve(key)
        fmt = self._formats[real]
        if isinstance(index, (list, tuple)):
            index = np.asarray(index, dtype=np.int64)
        return fmt.decode(np.asarray(self.raw(real)[index]))

    # -- internals -----------------------------------------------------------------

    def _entry(self, key: str) -> dict[str, Any]:
        if key not in self._spec:
            raise input_error(f"bank {self.path}: key", key, one_of(self._spec))
        return self._spec[key]

    def _resolve(self, key: str) -> str:
        entry = self._entry(key)
        return str(entry["alias"]) if "alias" in entry else key

    def _check_file(self, key: str) -> None:
        entry = self._spec[key]
        if "alias" in entry:
            if entry["alias"] not in self._spec:
                raise TaskonomyError(
                    f"bank manifest {self.path / MANIFEST}: key {key!r} aliases "
                    f"{entry['alias']!r}, which is not stored; regenerate the bank."
                )
            return
        f = self.path / entry["file"]
        if not f.is_file():
            raise input_error(
                f"bank file {f}",
                "missing file",
                f"the array for key {key!r} listed in {MANIFEST}",
                "The bank is incomplete; regenerate it.",
            )

    def _load(self, key: str) -> np.ndarray:
        entry = self._spec[key]
        f = self.path / entry["file"]
        try:
            arr = np.load(f, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise TaskonomyError(
                f"bank file {f}: unreadable ({exc}); expected a .npy array "
                f"{entry['dtype']}{tuple(entry['shape'])}. The bank is corrupt; regenerate it."
            ) from exc
        if str(arr.dtype) != entry["dtype"] or list(arr.shape) != list(entry["shape"]):
            raise input_error(
                f"bank file {f}: array",
                f"{arr.dtype}{tuple(arr.shape)}",
                f"{entry['dtype']}{tuple(entry['shape'])} as listed in {MANIFEST}",
                "The bank is corrupt; regenerate it.",
            )
        return arr


def open_bank(bank: Bank | str | os.PathLike[str]) -> Bank:
    """A :class:`Bank` from a path, or the bank itself."""
    return bank if isinstance(bank, Bank) else Bank(bank)


__all__ = [
    "DEFAULT_FRACTIONS",
    "FORMAT_VERSION",
    "IMAGE_KEYS",
    "MANIFEST",
    "MASK_KEY",
    "SPLITS",
    "VIEWS_SUFFIX",
    "Bank",
    "BankWriter",
    "KeyFormat",
    "atomic_bank_dir",
    "key_file",
    "key_format",
    "open_bank",
    "scene_seed",
    "split_scenes",
]

"""The Taskonomy/Omnidata folder layout: naming, encodings, round trip, corrupt files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from taskonomy.data.bank import Bank, BankWriter
from taskonomy.data.generate import generate_bank
from taskonomy.data.taskonomy_layout import (
    EXPORT_INFO,
    TaskonomyLayout,
    export_taskonomy_layout,
    import_taskonomy_layout,
)
from taskonomy.errors import TaskonomyError

Z_MAX = 20.0


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bank, Bank, Path]:
    root = tmp_path_factory.mktemp("layout")
    generate_bank(root / "bank", scenes=3, views=3, size=32, seed=2, workers=1, progress=False)
    export_taskonomy_layout(root / "bank", root / "layout")
    import_taskonomy_layout(root / "layout", root / "back")
    return Bank(root / "bank"), Bank(root / "back"), root / "layout"


def test_export_uses_the_released_naming(roundtrip: tuple[Bank, Bank, Path]) -> None:
    bank, _, layout = roundtrip
    b = bank.scenes[0]["name"]
    for folder, domain, ext in [
        ("rgb", "rgb", "png"),
        ("depth_zbuffer", "depth_zbuffer", "png"),
        ("normal", "normal", "png"),
        ("segment_semantic", "segmentsemantic", "png"),
        ("mask_valid", "depth_zbuffer", "png"),
        ("class_object", "class_object", "npy"),
        ("point_info", "point_info", "json"),
    ]:
        assert (layout / folder / b / f"point_2_view_0_domain_{domain}.{ext}").is_file(), folder
    depth = iio.imread(layout / "depth_zbuffer" / b / "point_0_view_0_domain_depth_zbuffer.png")
    assert depth.dtype == np.uint16 and depth.shape == (32, 32)
    edges = iio.imread(layout / "edge_texture" / b / "point_0_view_0_domain_edge_texture.png")
    assert edges.dtype == np.uint16
    normal = iio.imread(layout / "normal" / b / "point_0_view_0_domain_normal.png")
    assert normal.dtype == np.uint8 and normal.shape == (32, 32, 3)
    info = json.loads(
        (layout / "point_info" / b / "point_1_view_0_domain_point_info.json").read_text()
    )
    assert info["camera_location"] == bank.get("camera_pose", 1)[:3, 3].tolist()
    assert info["field_of_view_rads"] == pytest.approx(math.radians(bank.meta["fov_deg"]))
    assert len(info["vanishing_points_gaussian_sphere"]["z"]) == 3 and len(info["room_layout"]) == 9


def test_round_trip_labels_match_within_quantization(roundtrip: tuple[Bank, Bank, Path]) -> None:
    bank, back, layout = roundtrip
    assert sorted(back.keys()) == sorted(bank.keys())
    assert back.splits == bank.splits and back.meta == bank.meta
    valid = bank.get("mask_valid")  # (N, 1, H, W)
    z_max = float(bank.meta["z_max"])
    scale = json.loads((layout / EXPORT_INFO).read_text())["curvature_scale"]
    # tolerance per task: the file's quantization plus the bank's own (u16: range / 131070)
    depth_tol = 1 / (1024 * math.log1p(z_max)) + 1 / 131070
    tolerance = {
        "depth_zbuffer": depth_tol,  # 1/512 m steps, through the log scale
        "depth_euclidean": depth_tol,
        "normal": 1 / 255 + 2 / 131070,  # 8-bit over [-1, 1]
        "reshading": 0.5 / 255 + 1 / 131070,  # 8-bit over [0, 1]
        "edge_texture": 1e-6,  # 16-bit file = the bank's 16-bit code: exact
        "edge_occlusion": 1e-6,
        "keypoints2d": 1e-6,
        "keypoints3d": 1e-6,
    }
    for key in bank:
        x, y = bank.get(key), back.get(key)
        assert x.shape == y.shape, key
        if key in ("depth_zbuffer", "depth_euclidean"):
            m = np.broadcast_to(valid, x.shape)  # invalid pixels carry no depth in the file
            assert np.abs(x - y)[m].max() <= tolerance[key] + 1e-6, key
        elif key in tolerance:
            assert np.abs(x - y).max() <= tolerance[key] + 1e-6, key
        elif key == "principal_curvature":
            inside = np.abs(x) * scale < 126.5  # 127 ± 127 is what 8 bits hold
            assert np.allclose(x[inside], y[inside], atol=0.5 / scale + 1e-6, rtol=2e-3)
            sat = ~inside  # saturated values keep their sign and sit at the range end
            assert np.all(np.sign(y[sat]) == np.sign(x[sat]))
            assert np.all(np.abs(y[sat]) * scale >= 126.5)
            assert sat.mean() < 0.02
        else:  # images, ids, classes, vectors, poses, tuples, masks: exact
            assert np.array_equal(x, y), key


def _tiny_bank(path: Path) -> Path:
    """Two 4×4 views with hand-checkable labels."""
    z = np.full((2, 1, 4, 4), 2.0)  # metres
    depth = (np.log1p(z) / math.log1p(Z_MAX)).astype(np.float32)
    valid = np.ones((2, 1, 4, 4), bool)
    valid[0, 0, 0, 0] = False
    normal = np.zeros((2, 3, 4, 4), np.float32)
    normal[:, 2] = -1.0  # facing the camera (z forward in our frame)
    curv = np.zeros((2, 2, 4, 4), np.float32)
    curv[:, 0, 0, 0] = 1.0
    w = BankWriter(path, [2])
    w.add_scene(
        {
            "rgb": np.full((2, 3, 4, 4), 0.5, np.float32),
            "mask_valid": valid,
            "depth_zbuffer": depth,
            "normal": normal,
            "principal_curvature": curv,
            "segment_semantic": np.arange(16).reshape(1, 4, 4).repeat(2, 0),
            "class_scene": np.array([2, 0]),
            "vanishing_point": np.tile(np.eye(3).ravel(), (2, 1)).astype(np.float32),
        },
        {"z_max": Z_MAX, "n_scene_classes": 3},
        name="house",
    )
    w.finalize(splits={"large": [0]}, generator={})
    return path


def test_encodings_of_known_values(tmp_path: Path) -> None:
    out = export_taskonomy_layout(_tiny_bank(tmp_path / "b"), tmp_path / "L", curvature_scale=32)
    d = iio.imread(out / "depth_zbuffer/house/point_0_view_0_domain_depth_zbuffer.png")
    assert d[0, 1] == 1024  # 2 m in units of 1/512 m
    assert d[0, 0] == 65535  # no valid geometry
    n = iio.imread(out / "normal/house/point_1_view_0_domain_normal.png")
    assert n[2, 2].tolist() == [128, 128, 255]  # facing the camera: blue, as released
    c = iio.imread(out / "principal_curvature/house/point_0_view_0_domain_principal_curvature.png")
    assert c[0, 0, :2].tolist() == [127 + 32, 127] and c[1, 1, :2].tolist() == [127, 127]
    m = iio.imread(out / "mask_valid/house/point_0_view_0_domain_depth_zbuffer.png")
    assert m[0, 0] == 0 and m[0, 1] == 255
    s = iio.imread(out / "segment_semantic/house/point_0_view_0_domain_segmentsemantic.png")
    assert s.dtype == np.uint8 and s[3, 3] == 15
    assert np.load(out / "class_scene/house/point_0_view_0_domain_class_scene.npy").tolist() == [
        0.0, 0.0, 1.0,
    ]  # fmt: skip
    info = json.loads((out / "point_info/house/point_0_view_0_domain_point_info.json").read_text())
    assert info["vanishing_points_gaussian_sphere"] == {
        "x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "z": [0.0, 0.0, 1.0],
    }  # fmt: skip
    layout = TaskonomyLayout(out)
    v = layout.views[0]
    assert np.allclose(layout.read("normal", v)[:, 2, 2], [0.0039, 0.0039, -1], atol=1e-3)


@pytest.fixture()
def tiny_layout(tmp_path: Path) -> Path:
    return export_taskonomy_layout(_tiny_bank(tmp_path / "b"), tmp_path / "L")


def _png(tiny_layout: Path, folder: str, domain: str, point: int = 1) -> Path:
    return tiny_layout / folder / "house" / f"point_{point}_view_0_domain_{domain}.png"


def test_truncated_png_is_named(tiny_layout: Path, tmp_path: Path) -> None:
    f = _png(tiny_layout, "normal", "normal")
    f.write_bytes(f.read_bytes()[:30])
    with pytest.raises(TaskonomyError, match=r"point_1_view_0_domain_normal\.png.*unreadable"):
        import_taskonomy_layout(tiny_layout, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_bit_depth_and_size_are_named(tiny_layout: Path, tmp_path: Path) -> None:
    f = _png(tiny_layout, "depth_zbuffer", "depth_zbuffer")
    iio.imwrite(f, np.zeros((4, 4), np.uint8))
    with pytest.raises(TaskonomyError, match=r"domain_depth_zbuffer\.png.*uint8.*16-bit"):
        import_taskonomy_layout(tiny_layout, tmp_path / "out")
    iio.imwrite(f, np.zeros((5, 4), np.uint16))
    with pytest.raises(TaskonomyError, match=r"domain_depth_zbuffer\.png.*size.*\(4, 4\)"):
        import_taskonomy_layout(tiny_layout, tmp_path / "out")


def test_missing_file_errors_or_is_skipped(tiny_layout: Path, tmp_path: Path) -> None:
    _png(tiny_layout, "segment_semantic", "segmentsemantic", point=0).unlink()
    with pytest.raises(TaskonomyError, match=r"point_0_view_0_domain_segmentsemantic.*missing"):
        import_taskonomy_layout(tiny_layout, tmp_path / "out")
    bank = Bank(import_taskonomy_layout(tiny_layout, tmp_path / "out", on_missing="skip"))
    assert bank.n_views == 1  # the incomplete view is dropped, the other is kept
    assert bank.manifest["generator"]["skipped"] == ["house/point_0_view_0"]
    assert bank.get("segment_semantic", 0)[3, 3] == 15


def test_nested_omnidata_folders_and_task_subsets(tiny_layout: Path, tmp_path: Path) -> None:
    nested = tmp_path / "omni"
    for folder in ("rgb", "normal", "point_info"):
        shutil.copytree(tiny_layout / folder / "house", nested / folder / "taskonomy" / "house")
    bank = Bank(import_taskonomy_layout(nested, tmp_path / "out", tasks=["rgb2sfnorm"]))
    assert bank.tasks() == ["normal"] and bank.scenes[0]["name"] == "taskonomy/house"
    assert bank.meta["z_max"] == pytest.approx(65535 / 512)  # no export info: the PNG range
    with pytest.raises(TaskonomyError, match="depth_zbuffer"):
        import_taskonomy_layout(nested, tmp_path / "out2", tasks=["depth_zbuffer"])

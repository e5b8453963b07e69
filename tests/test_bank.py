"""The on-disk bank: format, encodings, splits, parallel determinism, atomic writes, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from taskonomy.data import generate as gen
from taskonomy.data.bank import (
    MANIFEST,
    Bank,
    BankWriter,
    KeyFormat,
    atomic_bank_dir,
    key_format,
    scene_seed,
    split_scenes,
)
from taskonomy.errors import TaskonomyError

SCENES, VIEWS, SIZE, SEED = 3, 3, 32, 7


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bank") / "bank"
    gen.generate_bank(out, scenes=SCENES, views=VIEWS, size=SIZE, seed=SEED, workers=1,
                      progress=False)  # fmt: skip
    return out


# ---------------------------------------------------------------------------- splits & seeds


def test_split_counts_follow_fractions_and_never_split_a_scene() -> None:
    s = split_scenes(10, seed=3, fractions=(0.6, 0.2, 0.2))
    assert [len(s[k]) for k in ("large", "small", "test")] == [6, 2, 2]
    ids = s["large"] + s["small"] + s["test"]
    assert sorted(ids) == list(range(10))  # disjoint and complete
    assert s == split_scenes(10, seed=3, fractions=(0.6, 0.2, 0.2))  # deterministic
    others = [split_scenes(10, seed=k) for k in range(4, 9)]
    assert any(o["test"] != s["test"] for o in others)  # the seed matters


def test_split_gives_each_split_a_scene_when_possible() -> None:
    s = split_scenes(3, seed=0, fractions=(0.8, 0.1, 0.1))
    assert [len(s[k]) for k in ("large", "small", "test")] == [1, 1, 1]
    s = split_scenes(5, seed=0, fractions=(1, 0, 1))
    assert s["small"] == [] and len(s["large"]) + len(s["test"]) == 5
    with pytest.raises(TaskonomyError, match="split fractions"):
        split_scenes(5, seed=0, fractions=(1, -1, 1))


def test_scene_seed_is_independent_of_scene_count() -> None:
    seeds = [scene_seed(11, i) for i in range(50)]
    assert len(set(seeds)) == 50
    assert scene_seed(11, 7) == seeds[7]
    assert scene_seed(12, 7) != seeds[7]


# ---------------------------------------------------------------------------- encodings


def test_u16_encoding_error_is_within_half_a_step() -> None:
    fmt = KeyFormat("u16", "uint16", "float32", -1.0, 1.0)
    x = np.linspace(-1, 1, 10001)
    back = fmt.decode(fmt.encode(x, "t"))
    assert back.dtype == np.float32
    assert np.abs(back - x).max() <= 2.0 / 131070 + 1e-7
    assert back[0] == -1.0 and back[-1] == 1.0


def test_encoding_refuses_corrupt_labels() -> None:
    fmt = key_format("depth_zbuffer", np.zeros((1, 1, 2, 2), np.float32))
    assert fmt.encoding == "u16"
    with pytest.raises(TaskonomyError, match="out-of-range"):
        fmt.encode(np.array([0.5, 1.5]), "depth")
    with pytest.raises(TaskonomyError, match="non-finite"):
        fmt.encode(np.array([0.5, np.nan]), "depth")
    seg = key_format("segment_unsup2d", np.zeros((1, 2, 2), np.int64))
    with pytest.raises(TaskonomyError, match="int16"):
        seg.encode(np.array([0, 40000]), "segments")
    curv = key_format("principal_curvature", np.zeros((1, 2, 2, 2), np.float32))
    assert curv.encoding == "f16"
    x = np.array([-3.3, 0.01, 12.5])
    assert np.allclose(curv.decode(curv.encode(x, "c")), x, rtol=1e-3)


# ---------------------------------------------------------------------------- generated bank


def test_manifest_describes_every_array(bank_dir: Path) -> None:
    m = json.loads((bank_dir / MANIFEST).read_text())
    assert m["format"] == "taskonomy-bank" and m["format_version"] == 1
    assert m["generator"]["seed"] == SEED and m["generator"]["config"]["size"] == SIZE
    assert m["sizes"]["n_views"] == SCENES * VIEWS and m["sizes"]["H"] == SIZE
    assert [s["views"] for s in m["scenes"]] == [[i * VIEWS, (i + 1) * VIEWS] for i in range(3)]
    assert sorted(i for ids in m["splits"].values() for i in ids) == list(range(SCENES))
    for key, spec in m["arrays"].items():
        assert not key.startswith("_")
        if "alias" in spec:
            continue
        arr = np.load(bank_dir / spec["file"], mmap_mode="r")  # plain .npy, memory-mapped
        assert isinstance(arr, np.memmap)
        assert str(arr.dtype) == spec["dtype"] and list(arr.shape) == spec["shape"]
    assert m["arrays"]["rgb"]["dtype"] == "uint8"
    assert m["arrays"]["autoencoding"] == {"alias": "rgb", "kind": "view"}  # stored once


def test_bank_returns_the_rendered_labels(bank_dir: Path) -> None:
    bank = Bank(bank_dir)
    config = gen._make_config(SIZE, VIEWS, None)
    for s in (0, 2):
        _, arrays, meta = gen.render_one((s, scene_seed(SEED, s), config))
        rows = bank.scene_views(s)
        assert bank.scene_meta(s)["scene_class"] == meta["scene_class"]
        for key, x in arrays.items():
            if key.endswith("/views"):
                a, b = bank.scenes[s]["tuples"][key[:-6]]
                # stored as GLOBAL view indices
                assert np.array_equal(bank.get(key, slice(a, b)), x + rows.start)
                continue
            task = key.split("/")[0]
            if task in bank.tuple_tasks():
                a, b = bank.scenes[s]["tuples"][task]
                got = bank.get(key, slice(a, b))
            else:
                got = bank.get(key, slice(rows.start, rows.stop))
            fmt = bank.format(key)
            assert got.shape == x.shape, key
            if fmt.encoding == "u8":  # half a step of 1/255
                assert np.abs(got - x).max() <= 0.5 / 255 + 1e-6, key
            elif fmt.encoding == "u16":  # half a step of (high - low) / 65535
                step = (fmt.high - fmt.low) / 65535  # type: ignore[operator]
                assert np.abs(got - x).max() <= step / 2 + 1e-6, key
            elif fmt.encoding == "f16":  # float16: 11 significant bits
                assert np.allclose(got, x, rtol=2**-11, atol=1e-6), key
            else:  # f32, ints, bool: exact
                assert np.array_equal(got, x), key


def test_workers_do_not_change_the_bank(bank_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bank2"
    gen.generate_bank(out, scenes=SCENES, views=VIEWS, size=SIZE, seed=SEED, workers=2,
                      progress=False)  # fmt: skip
    a = json.loads((bank_dir / MANIFEST).read_text())
    b = json.loads((out / MANIFEST).read_text())
    assert a == b
    for spec in a["arrays"].values():
        if "file" in spec:
            assert (bank_dir / spec["file"]).read_bytes() == (out / spec["file"]).read_bytes()


def test_interrupted_generation_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    real = gen._render_scene
    calls = []

    def failing(seed: int, config: object) -> object:
        calls.append(seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(seed, config)

    monkeypatch.setattr(gen, "_render_scene", failing)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_bank(tmp_path / "b", scenes=3, views=3, size=SIZE, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the bank nor its temporary directory


def test_existing_bank_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(TaskonomyError, match="--force"), atomic_bank_dir(out):
        pass
    # even with force, a directory that is not a bank is never deleted
    with pytest.raises(TaskonomyError, match="Refusing to delete"), atomic_bank_dir(out, True):
        pass
    assert (out / "keep.txt").exists()
    (out / MANIFEST).write_text("{}")
    with atomic_bank_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no leftovers beside it


# ---------------------------------------------------------------------------- writer & reader


def _tiny(path: Path, views: tuple[int, ...] = (2, 3)) -> Path:
    rng = np.random.default_rng(0)
    w = BankWriter(path, list(views))
    for i, v in enumerate(views):
        w.add_scene(
            {
                "rgb": rng.random((v, 3, 4, 4), dtype=np.float32),
                "depth_zbuffer": rng.random((v, 1, 4, 4), dtype=np.float32),
                "mask_valid": rng.random((v, 1, 4, 4)) > 0.2,
                "fixated_pose/views": np.array([[0, 1]]),
                "fixated_pose": np.full((1, 6), float(i), np.float32),
                "_internal": np.zeros(3),
            },
            {"z_max": 20.0, "scene_class": f"room{i}"},
        )
    w.finalize(splits={"large": [0], "small": [], "test": [1]}, generator={"test": True})
    return path


def test_writer_handles_uneven_scenes_and_drops_private_keys(tmp_path: Path) -> None:
    bank = Bank(_tiny(tmp_path / "t"))
    assert bank.n_views == 5 and bank.scene_views(1) == range(2, 5)
    assert "_internal" not in bank and "_internal" not in list(bank)
    assert bank.meta == {"z_max": 20.0}  # shared; the scene class stays per scene
    assert bank.scene_meta(1)["scene_class"] == "room1"
    assert bank.get("fixated_pose/views").tolist() == [[0, 1], [2, 3]]
    assert bank.tuple_rows("fixated_pose", "test").tolist() == [1]
    assert bank.split_views("test").tolist() == [2, 3, 4]
    assert bank.tasks() == ["depth_zbuffer", "fixated_pose"]


def test_writer_rejects_inconsistent_scenes(tmp_path: Path) -> None:
    w = BankWriter(tmp_path, [2])
    with pytest.raises(TaskonomyError, match="leading dim"):
        w.add_scene({"rgb": np.zeros((3, 3, 4, 4), np.float32)}, {})
    with pytest.raises(TaskonomyError, match=r"view index range"):
        w.add_scene({"rgb": np.zeros((2, 3, 4, 4), np.float32),
                     "egomotion/views": np.array([[0, 1, 2]]),
                     "egomotion": np.zeros((1, 3, 6), np.float32)}, {})  # fmt: skip


def test_corrupt_or_missing_files_are_named(tmp_path: Path) -> None:
    path = _tiny(tmp_path / "t")
    Bank(path)
    (path / "depth_zbuffer.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(TaskonomyError, match=r"depth_zbuffer\.npy.*unreadable"):
        Bank(path).get("depth_zbuffer", 0)
    np.save(path / "depth_zbuffer.npy", np.zeros((5, 1, 4, 3), np.uint16))
    with pytest.raises(TaskonomyError, match=r"depth_zbuffer\.npy.*\(5, 1, 4, 4\)"):
        Bank(path).raw("depth_zbuffer")
    (path / "depth_zbuffer.npy").unlink()
    with pytest.raises(TaskonomyError, match=r"depth_zbuffer\.npy.*missing"):
        Bank(path)
    (path / MANIFEST).unlink()
    with pytest.raises(TaskonomyError, match=r"manifest\.json.*missing"):
        Bank(path)


def test_pickled_bank_does_not_carry_its_arrays(bank_dir: Path) -> None:
    bank = Bank(bank_dir)
    bank.get("rgb", 0)
    blob = pickle.dumps(bank)
    assert len(blob) < 100_000  # the manifest, not the mapped arrays
    again = pickle.loads(blob)
    assert np.array_equal(again.get("rgb", 4), bank.get("rgb", 4))


def test_tuple_labels_agree_with_the_stored_camera_poses(bank_dir: Path) -> None:
    from scipy.spatial.transform import Rotation

    bank = Bank(bank_dir)
    poses = bank.get("camera_pose")  # (N, 4, 4) camera-to-world
    for task in ("fixated_pose", "nonfixated_pose"):
        views, labels = bank.get(task + "/views"), bank.get(task)
        assert len(views) > 0
        for (i, j), lab in zip(views, labels, strict=True):
            assert bank.scene_of_view(i) == bank.scene_of_view(j)  # global indices, one scene
            ri, rj = poses[i, :3, :3], poses[j, :3, :3]
            # the renderer's convention: view j's camera in view i's frame
            r_ij = Rotation.from_rotvec(lab[:3]).as_matrix()
            assert np.allclose(r_ij, ri.T @ rj, atol=1e-4)
            assert np.allclose(lab[3:], ri.T @ (poses[j, :3, 3] - poses[i, :3, 3]), atol=1e-4)


def test_storage_modules_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, taskonomy.data.bank, taskonomy.data.generate, "
        "taskonomy.data.taskonomy_layout; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from taskonomy.affinity.ahp import win_rate_table
from taskonomy.affinity.table import Transfer, TransferTable, read_table
from taskonomy.errors import TaskonomyError
from taskonomy.taxonomy.published import (
    find_published_winrates,
    read_published,
    safe_load_pickle,
)


def test_transfer_is_order_insensitive_and_canonical() -> None:
    a = Transfer.of(["rgb2sfnorm", "reshade"], "rgb2depth")
    b = Transfer.of(["reshading", "normal"], "depth_zbuffer")
    assert a == b and a.order == 2 and str(a) == "normal+reshading->depth_zbuffer"
    assert Transfer.of(["self"], "normal").is_self


def test_csv_round_trip(tmp_path: Path) -> None:
    vals = {
        Transfer.of(["normal"], "depth_zbuffer"): 0.25,
        Transfer.of(["normal", "reshading"], "depth_zbuffer"): 0.5,
        Transfer.of(["self"], "depth_zbuffer"): 0.2,
        Transfer.of(["random"], "depth_zbuffer"): 0.05,
    }
    table = TransferTable(vals, "affinity")
    path = tmp_path / "aff.csv"
    table.write_csv(path)
    back = read_table(path)
    assert dict(back) == dict(table) and back.kind == "affinity"
    assert path.read_text().startswith("# taskonomy-table v1\n# kind: affinity\n")
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_csv_accepts_2018_names_and_rejects_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("# kind: wins_vs_self\ntarget,sources,value\nrgb2depth,rgb2sfnorm+reshade,0.4\n")
    t = read_table(p)
    assert t.kind == "wins_vs_self"
    assert t.value(["normal", "reshading"], "depth_zbuffer") == 0.4
    for body, match in [
        ("target,src,value\n", "header"),
        ("target,sources,value\nnormal,depth,0.1\n", "unknown task"),
        ("target,sources,value\nnormal,rgb2depth,abc\n", "value.*a number"),
        ("target,sources,value\nnormal,rgb2depth,nan\n", "finite"),
        ("target,sources,value\nnormal,rgb2depth\n", "3 fields"),
        (
            "target,sources,value\nnormal,rgb2depth,0.1\nnormal,depth_zbuffer,0.2\n",
            "each transfer once",
        ),
        ("# kind: bogus\ntarget,sources,value\n", "table kind"),
    ]:
        p.write_text(body)
        with pytest.raises(TaskonomyError, match=match):
            read_table(p)
    with pytest.raises(TaskonomyError, match="existing"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(TaskonomyError, match="file type"):
        read_table(tmp_path / "x.json")


def test_first_order_matrix() -> None:
    t = TransferTable(
        {
            Transfer.of(["normal"], "depth_zbuffer"): 0.3,
            Transfer.of(["self"], "depth_zbuffer"): 0.7,
            Transfer.of(["depth_zbuffer"], "normal"): 0.9,
        }
    )
    m, tg, src = t.first_order_matrix()
    assert tg == ["depth_zbuffer", "normal"] and src == ["normal", "self", "depth_zbuffer"]
    assert m[0, 0] == 0.3 and m[1, 2] == 0.9 and np.isnan(m[1, 0])


@pytest.mark.parametrize(
    ("name", "kind", "n"),
    [
        ("affinities/all_affinities_16k.pkl", "affinity", 1758),
        ("affinities/all_affinities_1k.pkl", "affinity", 1418),
        ("affinities/all_affinities.pkl", "affinity", 814),
        ("winrates/wins_vs_task_16k.pkl", "wins_vs_self", 1758),
        ("winrates/wins_vs_pixels.pkl", "wins_vs_pixels", 836),
    ],
)
def test_published_files(published_dir: Path, name: str, kind: str, n: int) -> None:
    table = read_table(published_dir / name)
    assert table.kind == kind and len(table) == n
    raw = pickle.loads((published_dir / name).read_bytes())  # trusted fixture, for the oracle
    assert len(table.targets()) == 22
    for key, val in list(raw.items())[:50]:
        *srcs, tgt = key.split("__")
        assert table.value(srcs, tgt) == pytest.approx(float(val))
    if kind == "affinity":
        for t in table.targets():
            assert sum(table.for_target(t).values()) == pytest.approx(1.0, abs=1e-9)
    if kind == "wins_vs_self":
        assert all(table.value(["self"], t) == 0.5 for t in table.targets())


def test_published_names_are_canonical(published_dir: Path) -> None:
    t = read_table(published_dir / "affinities" / "all_affinities_16k.pkl")
    assert "depth_zbuffer" in t.targets() and "rgb2depth" not in t.targets()
    assert {"self", "random"} <= {s for tr in t for s in tr.sources}
    assert t.max_order() >= 20


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch /tmp/taskonomy-pwned",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = Path("/tmp/taskonomy-pwned")
    marker.unlink(missing_ok=True)
    bad = tmp_path / "all_affinities_evil.pkl"
    bad.write_bytes(pickle.dumps({"a__b": _Boom()}))
    with pytest.raises(TaskonomyError, match=r"refused.*(posix|os)\.system"):
        read_published(bad)
    assert not marker.exists()
    with pytest.raises(TaskonomyError, match="refused"):
        safe_load_pickle(pickle.dumps(np.random.default_rng(0)))  # a numpy object not on the list
    with pytest.raises(TaskonomyError, match="not a readable"):
        safe_load_pickle(b"\x80\x03garbage")


def test_arrays_are_allowed() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(safe_load_pickle(pickle.dumps({"a": arr}))["a"], arr)


def test_find_published_winrates(published_dir: Path) -> None:
    found = find_published_winrates(published_dir / "affinities" / "all_affinities_16k.pkl")
    assert found is not None
    assert found[0].name == "wins_vs_pixels_16k.pkl" and found[1].name == "wins_vs_task_16k.pkl"


def test_win_rate_table_against_self() -> None:
    trs = [Transfer.of(["normal"], "depth_zbuffer"), Transfer.of(["self"], "depth_zbuffer")]
    losses = np.array([[1.0, 1.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    t = win_rate_table({"depth_zbuffer": (trs, losses)}, "self", "wins_vs_self")
    assert t.value(["normal"], "depth_zbuffer") == pytest.approx(0.75)
    assert t.value(["self"], "depth_zbuffer") == pytest.approx(0.5)
    with pytest.raises(TaskonomyError, match="'pixels' row"):
        win_rate_table({"depth_zbuffer": (trs, losses)}, "pixels", "wins_vs_pixels")

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskonomy.errors import TaskonomyError
from taskonomy.registry import Registry
from taskonomy.tasks import (
    TASKS,
    canonical_name,
    get_task,
    list_tasks,
    name_2018,
)

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"  # the task dictionary


def _design_rows() -> dict[str, tuple[str, int, str]]:
    """canonical → (2018 name, views, family) parsed from the design table."""
    rows = {}
    for line in DESIGN.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[a-z0-9_]+", cells[0]) and cells[0] != "canonical":
            views = int(cells[2].split()[0])
            rows[cells[0]] = (cells[1], views, cells[5])
    return rows


def test_registry_refuses_duplicates_and_lists_valid_names() -> None:
    r: Registry[int] = Registry("widget")
    r.register("a", 1, aliases=("alpha",))
    with pytest.raises(TaskonomyError, match="already registered"):
        r.register("a", 2)
    with pytest.raises(TaskonomyError, match="already registered"):
        r.register("b", 2, aliases=("alpha",))
    with pytest.raises(TaskonomyError, match=r"unknown widget: got 'c'; expected one of: a"):
        r.get("c")
    assert r.get("alpha") == 1 and "alpha" in r and len(r) == 1


def test_dictionary_matches_design_doc() -> None:
    rows = _design_rows()
    assert len(rows) == 26
    assert sorted(list_tasks()) == sorted(rows)
    for name, (n18, views, family) in rows.items():
        spec = get_task(name)
        assert spec.name_2018 == n18
        assert spec.views == views
        assert family.split()[0].rstrip(",") in (spec.family, "source-only")
        assert canonical_name(n18) == name
        assert name_2018(name) == n18


@pytest.mark.parametrize("name", list_tasks())
def test_every_task_spec_is_complete(name: str) -> None:
    spec = get_task(name)
    assert spec.name == name
    assert spec.output and spec.loss
    if spec.role == "task":
        assert spec.label is not None and spec.is_target and spec.is_source
        shape = spec.label.resolve({"H": 8, "W": 8, "n_object_classes": 5})
        assert all(d > 0 for d in shape)
    if spec.label is not None and spec.label.low is not None and spec.label.high is not None:
        assert spec.label.low < spec.label.high


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(TaskonomyError) as exc:
        get_task("depth")
    assert "depth_zbuffer" in str(exc.value) and "got 'depth'" in str(exc.value)


def test_baselines_and_families() -> None:
    assert canonical_name("self") == "self" and canonical_name("pixels") == "pixels"
    assert "random" in list_tasks() and get_task("random").label is None
    assert set(list_tasks("3D")) >= {"depth_zbuffer", "normal", "reshading"}
    assert "class_selected" not in list_tasks()
    assert "class_selected" in list_tasks(include_published_only=True)
    assert len(TASKS) == 27


def test_derived_task_lists_follow_the_specs() -> None:
    from taskonomy.tasks import (
        class_count_names,
        in_dictionary_order,
        labelled_tasks,
        multiview_tasks,
        rgb_label_tasks,
    )

    assert multiview_tasks() == ("egomotion", "fixated_pose", "nonfixated_pose", "point_matching")
    assert rgb_label_tasks() == {
        "autoencoding": "rgb",
        "colorization": "rgb_gray",
        "denoising": "rgb_noised",
        "inpainting": "rgb_masked",
    }
    assert class_count_names() == (
        "n_jigsaw_permutations",
        "n_object_classes",
        "n_scene_classes",
        "n_semantic_classes",
    )
    assert "class_selected" not in labelled_tasks() and "random" not in labelled_tasks()
    ordered = in_dictionary_order(["class_scene", "normal", "autoencoding", "jigsaw", "denoising"])
    assert ordered == ["autoencoding", "denoising", "normal", "jigsaw", "class_scene"]


def test_families_have_one_order_and_colour() -> None:
    from typing import get_args

    from taskonomy.report.contact_sheet import FAMILY_COLOR, FAMILY_ORDER
    from taskonomy.report.figures import _FAMILY_COLOR
    from taskonomy.tasks import Family, families, family_rank

    fams = families()
    assert list(fams) == ["2D", "3D", "geometric", "semantic", "baseline"]
    assert set(fams) == set(get_args(Family))  # every family has a colour
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in fams.values())
    assert [family_rank(f) for f in fams] == [0, 1, 2, 3, 4] and family_rank("other") == 5
    assert _FAMILY_COLOR == FAMILY_COLOR == fams
    assert FAMILY_ORDER == ("2D", "3D", "geometric", "semantic")


def test_a_label_needs_a_layout() -> None:
    from taskonomy.tasks import LabelSpec, LayoutSpec, TaskSpec

    label = LabelSpec(shape=(1, "H", "W"), dtype="float32")
    common = {"name": "x", "name_2018": "x", "family": "2D", "order": 0, "output": "", "loss": ""}
    with pytest.raises(ValueError, match="no LayoutSpec"):
        TaskSpec(views=1, label=label, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tuples"):
        TaskSpec(views=2, label=label, layout=LayoutSpec("unit16"), **common)  # type: ignore[arg-type]
    assert LayoutSpec("npy_int").ext == "npy" and LayoutSpec("tuples").ext == "json"
    assert LayoutSpec("depth16").ext == "png"

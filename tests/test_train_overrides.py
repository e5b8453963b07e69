"""Per-task training schedules (`train.tasks` / `pixels.tasks`): what they change and refuse."""

from __future__ import annotations

from typing import Any

import pytest

from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import TrainConfig, TrainParams, load_config
from taskonomy.pipeline.run import Plan


def test_for_task_replaces_only_the_named_fields() -> None:
    cfg = TrainConfig(steps=400, lr=2e-3, tasks={"fixated_pose": {"lr": 5e-4, "steps": 800}})
    assert cfg.for_task("fixated_pose") == TrainParams(steps=800, lr=5e-4)
    assert cfg.for_task("fixated_pose").batch_size == cfg.batch_size
    assert cfg.for_task("normal") == TrainParams(steps=400, lr=2e-3)


def _keys(overrides: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    plan = Plan(load_config(overrides=overrides))
    return ({t: j.key for t, j in plan.train.items()},
            {t: j.key for t, j in plan.pixels.items()})  # fmt: skip


def test_an_override_is_that_schedule_and_leaves_other_keys(tiny_config: dict[str, Any]) -> None:
    base_train, base_pixels = _keys(tiny_config)
    over = {"normal": {"lr": 5e-4, "steps": 7}}
    train, pixels = _keys(
        {**tiny_config, "train": {**tiny_config["train"], "tasks": over},
         "pixels": {**tiny_config["pixels"], "tasks": over}}
    )  # fmt: skip
    # Only normal's networks are new jobs; every other task keeps its key (and its results).
    assert {t for t in train if train[t] != base_train[t]} == {"normal"}
    assert {t for t in pixels if pixels[t] != base_pixels[t]} == {"normal"}
    # normal's job is exactly the job of a run whose schedule is that for every task.
    same_train, same_pixels = _keys(
        {**tiny_config, "train": {**tiny_config["train"], "lr": 5e-4, "steps": 7},
         "pixels": {**tiny_config["pixels"], "lr": 5e-4, "steps": 7}}
    )  # fmt: skip
    assert train["normal"] == same_train["normal"]
    assert pixels["normal"] == same_pixels["normal"]


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        ({"depth": {"lr": 1e-3}}, "unknown task"),
        ({"edge_texture": {"lr": 1e-3}}, r"train\.tasks names \['edge_texture'\].*not networks"),
        ({"random": {"lr": 1e-3}}, r"names \['random'\].*not networks"),
        ({"normal": {"lrr": 1e-3}}, "Extra inputs"),
        ({"normal": {"lr": 0}}, "greater than 0"),
        ({"normal": {"steps": True}}, r"train\.tasks\.normal\.steps"),
        ({"normal": {"lr": 1e-3}, "rgb2sfnorm": {"lr": 2e-3}}, "'normal' is named twice"),
    ],
)
def test_bad_overrides_are_refused(
    tiny_config: dict[str, Any], tasks: dict[str, Any], match: str
) -> None:
    with pytest.raises(TaskonomyError, match=match):
        load_config(overrides={**tiny_config, "train": {**tiny_config["train"], "tasks": tasks}})


def test_pixels_overrides_must_name_targets(tiny_config: dict[str, Any]) -> None:
    """Only targets get a small-data scratch network: naming a source-only task there
    would be ignored, so it is refused (train.tasks may name it: it trains a network)."""
    cfg = {**tiny_config, "tasks": [*tiny_config["tasks"], "jigsaw"]}
    over = {"jigsaw": {"lr": 1e-3}}
    load_config(overrides={**cfg, "train": {**cfg["train"], "tasks": over}})
    with pytest.raises(TaskonomyError, match=r"pixels\.tasks names \['jigsaw'\].*target") as info:
        load_config(overrides={**cfg, "pixels": {**cfg["pixels"], "tasks": over}})
    assert "\n" not in str(info.value) and "class_scene" in str(info.value)

"""Scheduling hints (``Job.cost``) of the planned jobs: heaviest transfer job first."""

from __future__ import annotations

from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.run import Plan


def test_unstacked_logit_transfers_are_planned_heaviest() -> None:
    plan = Plan(load_config(preset="quick"))
    jobs = {j.params["target"]: j for j in plan.first_order().values()}
    # segment_semantic's per-pixel logits train one set at a time on a CPU: its job is
    # the heaviest of the stage, so it starts first instead of last.
    assert max(jobs.values(), key=lambda j: j.cost) is jobs["segment_semantic"]
    assert jobs["segment_semantic"].cost > jobs["depth_zbuffer"].cost > jobs["class_scene"].cost
    # Stacked (forced), the same job weighs as any dense group.
    forced = Plan(load_config(preset="quick", overrides={"transfer": {"stacked": "always"}}))
    forced_jobs = {j.params["target"]: j for j in forced.first_order().values()}
    assert forced_jobs["segment_semantic"].cost == jobs["depth_zbuffer"].cost

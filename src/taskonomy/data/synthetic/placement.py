"""Placing models in a room: floor-plan occupancy, wall poses, rejection sampling."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from taskonomy.data.synthetic.furniture import BUILDERS, Model

F64 = NDArray[np.float64]


def _rot_y(yaw: float) -> F64:
    """Object-to-world rotation about the vertical: local +z maps to (sin yaw, 0, cos yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# local frame of a cone whose axis is the object's x or z axis: rows are the local axes
AXIS_FRAME = {
    0: np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    1: np.eye(3),
    2: np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


class FloorPlan:
    """Floor-plan occupancy (axis-aligned rectangles in x-z) and wall intervals."""

    def __init__(self, room: F64) -> None:
        self.room = room
        self.rects: list[tuple[float, ...]] = []
        # per wall: (along_min, along_max, y_min, y_max) of mounted objects
        self.wall_spans: dict[int, list[tuple[float, float, float, float]]] = {
            w: [] for w in range(4)
        }

    def free(self, r: tuple[float, ...], margin: float = 0.04, ignore: int | None = None) -> bool:
        """Inside the room and clear of every placed rectangle (but ``ignore``) by ``margin``."""
        x0, x1, z0, z1 = r
        if x0 < 0.02 or z0 < 0.02 or x1 > self.room[0] - 0.02 or z1 > self.room[2] - 0.02:
            return False
        return all(
            i == ignore
            or not (
                x0 < b[1] + margin
                and b[0] < x1 + margin
                and z0 < b[3] + margin
                and b[2] < z1 + margin
            )
            for i, b in enumerate(self.rects)
        )


def _footprint(
    x: float, z: float, yaw: float, half: tuple[float, float]
) -> tuple[float, float, float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ez = c * half[0] + s * half[1], s * half[0] + c * half[1]
    return (x - ex, x + ex, z - ez, z + ez)


# the four walls: (axis along the wall, fixed axis, fixed at upper bound?, yaw facing inward)
_WALLS = (
    (2, 0, False, math.pi / 2),  # x = 0 wall, objects face +x
    (2, 0, True, -math.pi / 2),  # x = Lx wall, face -x
    (0, 2, False, 0.0),  # z = 0 wall, face +z
    (0, 2, True, math.pi),  # z = Lz wall, face -z
)


def _wall_pose(room: F64, wall: int, along: float, depth: float) -> tuple[float, float, float]:
    """(x, z, yaw) of an object whose back touches ``wall`` at ``along``, centre ``depth`` in."""
    a_axis, f_axis, upper, yaw = _WALLS[wall]
    pos = [0.0, 0.0, 0.0]
    pos[a_axis] = along
    pos[f_axis] = room[f_axis] - depth if upper else depth
    return pos[0], pos[2], yaw


def place_model(
    rng: np.random.Generator, model: Model, plan: FloorPlan, room: F64
) -> tuple[float, float, float, float] | None:
    """Find a pose (x, y0, z, yaw) for ``model`` by rejection sampling; None if none fits."""
    hx, hz = model.half
    for _ in range(40):
        if model.place == "mounted":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            if room[a_axis] < 2 * hx + 0.3:
                continue
            along = rng.uniform(hx + 0.15, room[a_axis] - hx - 0.15)
            y_lo, y_hi = model.mount_y - 0.1, model.mount_y + model.height + 0.1
            if any(
                along - hx < a1 + 0.1 and a0 < along + hx + 0.1 and y_lo < b1 and b0 < y_hi
                for a0, a1, b0, b1 in plan.wall_spans[wall]
            ):
                continue
            x, z, yaw = _wall_pose(room, wall, along, 0.0)
            if model.clearance > 0:  # keep the floor in front of a door free
                fx, fz, _ = _wall_pose(room, wall, along, model.clearance / 2)
                rect = _footprint(fx, fz, yaw, (hx, model.clearance / 2))
                if not plan.free(rect, margin=0.0):
                    continue
                plan.rects.append(rect)
            plan.wall_spans[wall].append((along - hx, along + hx, y_lo, y_hi))
            return x, model.mount_y, z, yaw
        if model.place == "floor":  # flat: furniture may stand on it, so it takes no room
            yaw = rng.integers(2) * math.pi / 2 + rng.normal(0, 0.05)
            ex = _footprint(0.0, 0.0, yaw, (hx, hz))[1]
            ez = _footprint(0.0, 0.0, yaw, (hx, hz))[3]
            if room[0] < 2 * ex + 0.6 or room[2] < 2 * ez + 0.6:
                continue
            x = rng.uniform(ex + 0.3, room[0] - ex - 0.3)
            z = rng.uniform(ez + 0.3, room[2] - ez - 0.3)
            return x, 0.0, z, yaw
        if model.place == "wall":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            if room[a_axis] < 2 * hx + 0.1:
                continue
            along = rng.uniform(hx + 0.05, room[a_axis] - hx - 0.05)
            x, z, yaw = _wall_pose(room, wall, along, hz + rng.uniform(0.01, 0.04))
        elif model.place == "corner":
            wall = int(rng.integers(4))
            a_axis = _WALLS[wall][0]
            t = rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0), rng.uniform(0, 1)])
            along = hx + 0.1 + t * max(room[a_axis] - 2 * hx - 0.2, 0.0)
            x, z, _ = _wall_pose(room, wall, along, hz + rng.uniform(0.05, 0.3))
            yaw = rng.uniform(0, 2 * math.pi)
        else:
            x = rng.uniform(hx + 0.3, room[0] - hx - 0.3) if room[0] > 2 * hx + 0.6 else room[0] / 2
            z = rng.uniform(hz + 0.3, room[2] - hz - 0.3) if room[2] > 2 * hz + 0.6 else room[2] / 2
            yaw = rng.integers(4) * math.pi / 2 + rng.normal(0, 0.15)
        rect = _footprint(x, z, yaw, (hx, hz))
        if plan.free(rect):
            plan.rects.append(rect)
            return x, 0.0, z, yaw
    return None


def place_chair_at_table(
    rng: np.random.Generator,
    scene: str,
    plan: FloorPlan,
    tables: list[tuple[Model, float, float, float, int]],
    placed: list[tuple[Model, float, float, float, float]],
) -> bool:
    """Pull a chair up to one of the tables, facing it; False if no side is free."""
    model = BUILDERS["chair"](rng, "dining_room")
    for _ in range(12):
        tmodel, tx, tz, tyaw, rect_index = tables[int(rng.integers(len(tables)))]
        thx, thz = tmodel.half
        side = int(rng.integers(4))
        along = rng.uniform(-0.5, 0.5)
        # the seat's front edge sits a little under the table top
        pull = rng.uniform(-0.04, 0.12) + model.half[1]
        off = [
            (along * thx, thz + pull),
            (along * thx, -(thz + pull)),
            (thx + pull, along * thz),
            (-(thx + pull), along * thz),
        ][side]
        r = _rot_y(tyaw)
        ow = r @ np.array([off[0], 0.0, off[1]])
        x, z = tx + ow[0], tz + ow[2]
        yaw = math.atan2(-ow[0], -ow[2]) + rng.normal(0, 0.1)
        rect = _footprint(x, z, yaw, model.half)
        if plan.free(rect, margin=0.02, ignore=rect_index):
            plan.rects.append(rect)
            placed.append((model, x, 0.0, z, yaw))
            return True
    return False

"""Head-of-line blocking: a shared through/left lane whose first vehicle waits on green."""

from __future__ import annotations

import numpy as np

from controllers.lane_blocking import LaneBlocking
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink


def shared_lane_model() -> IntersectionModel:
    """Approach ``a``: lane a_0 through only, lane a_1 through + left. Phase 0 gives the
    throughs ``G`` and the left ``g`` (permitted); phase 1 protects the left; phase 2 is the
    cross street ``b``, whose one lane has no protected phase for its left."""
    links = (
        SignalLink(0, "a_0", "x_0", "a", "through"),
        SignalLink(1, "a_1", "x_1", "a", "through"),
        SignalLink(2, "a_1", "y_0", "a", "left"),
        SignalLink(3, "b_0", "z_0", "b", "through"),
        SignalLink(4, "b_0", "w_0", "b", "left"),
    )
    movements = (
        Movement("a:through", "a", "through", (0, 1), ("a_0", "a_1"), ("x",)),
        Movement("a:left", "a", "left", (2,), ("a_1",), ("y",)),
        Movement("b:through", "b", "through", (3,), ("b_0",), ("z",)),
        Movement("b:left", "b", "left", (4,), ("b_0",), ("w",)),
    )
    phases = (
        Phase(0, "GGgrr", 30.0, 5.0, 60.0),
        Phase(1, "rrGrr", 6.0, 5.0, 60.0),
        Phase(2, "rrrGg", 30.0, 5.0, 60.0),
    )
    return IntersectionModel("X", links, movements, phases, yellow_s=3.0, all_red_s=0.0, program_cycle_s=75.0)


LANES = ["a_0", "a_1", "b_0"]
BASE = np.array([[1.0, 0.8, 0.0],   # phase 0 lets the throughs of a_1 go, 80 % of its vehicles
                 [0.0, 0.2, 0.0],
                 [0.0, 0.0, 1.0]])


def update(blocking: LaneBlocking, now: float, phase: int, green_s: float, head_stopped: list[bool],
           quiet_s: list[float], green: list[bool] | None = None) -> None:
    lane_green = np.array(green if green is not None else [True, True, False])
    blocking.update(now, phase, green_s, lane_green, np.array(head_stopped), np.array(quiet_s))


def test_a_stopped_head_on_green_moves_the_lane_to_the_protected_left() -> None:
    blocking = LaneBlocking(shared_lane_model(), LANES, block_after_s=3.0)
    update(blocking, 10.0, 0, 2.0, [False, True, False], [0.0, 9.0, 9.0])
    assert not blocking.any_blocked, "too early in the green: the head may just be starting"
    update(blocking, 12.0, 0, 4.0, [False, True, False], [0.0, 11.0, 11.0])
    shares = blocking.shares(BASE)
    assert shares[0, 1] == 0.0 and shares[1, 1] == 1.0
    assert np.array_equal(shares[:, [0, 2]], BASE[:, [0, 2]])
    # the left-turner goes in phase 1: a crossing from the lane clears the block
    update(blocking, 20.0, 1, 1.0, [False, False, False], [3.0, 0.0, 19.0], green=[False, True, False])
    assert not blocking.any_blocked
    assert blocking.shares(BASE) is BASE


def test_a_lane_no_other_phase_can_release_is_never_marked() -> None:
    blocking = LaneBlocking(shared_lane_model(), LANES, block_after_s=3.0)
    update(blocking, 50.0, 2, 10.0, [False, False, True], [9.0, 9.0, 9.0], green=[False, False, True])
    assert not blocking.any_blocked  # b_0's left has no protected phase: its demand stays


def test_a_through_lane_stopped_on_green_is_not_a_left_turn_block() -> None:
    blocking = LaneBlocking(shared_lane_model(), LANES, block_after_s=3.0)
    update(blocking, 12.0, 0, 8.0, [True, False, False], [8.0, 0.0, 9.0])
    assert not blocking.any_blocked  # a_0 serves only the through, green in phase 0


def test_a_block_expires_and_can_be_cleared() -> None:
    blocking = LaneBlocking(shared_lane_model(), LANES, block_after_s=3.0, expire_s=60.0)
    update(blocking, 12.0, 0, 4.0, [False, True, False], [0.0, 11.0, 11.0])
    assert blocking.any_blocked
    update(blocking, 80.0, 2, 4.0, [False, False, False], [0.0, 79.0, 0.0], green=[False, False, True])
    assert not blocking.any_blocked
    update(blocking, 90.0, 0, 4.0, [False, True, False], [0.0, 89.0, 0.0])
    blocking.clear()
    assert not blocking.any_blocked

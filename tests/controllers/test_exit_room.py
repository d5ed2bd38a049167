"""Room in an intersection's exits: storage from the link, the queue seen downstream, the box."""

from __future__ import annotations

import pytest

from controllers.exit_room import ExitLinks, edge_of_lane
from optimizer.corridor import CorridorLink
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
from optimizer.storage import JAM_SPACING_M


def model(tls: str, approach: str, exit_edge: str) -> IntersectionModel:
    """One two-lane approach going straight on into ``exit_edge``."""
    links = (SignalLink(0, f"{approach}_0", f"{exit_edge}_0", approach, "through"),
             SignalLink(1, f"{approach}_1", f"{exit_edge}_1", approach, "through"))
    movements = (Movement(f"{approach}:through", approach, "through", (0, 1), (f"{approach}_0", f"{approach}_1"),
                          (exit_edge,)),)
    return IntersectionModel(tls, links, movements, (Phase(0, "GG", 30.0, 5.0, 60.0),), 3.0, 2.0, 35.0)


MODELS = {"A": model("A", "a_in", "ab"), "B": model("B", "ab", "b_out")}
LINKS = [CorridorLink("A", "B", 7.2, 75.0, exit_edge="ab", approach="ab")]


def test_an_exit_into_another_signal_has_the_links_storage_less_its_longest_queue_and_the_box() -> None:
    exits = ExitLinks(MODELS, LINKS)
    assert len(exits) == 1
    ex = exits.exits[0]
    assert (ex.tls, ex.exit_edge, ex.downstream) == ("A", "ab", "B")
    assert ex.storage_veh == pytest.approx(75.0 / JAM_SPACING_M)  # 10 vehicles a lane
    assert ex.downstream_lanes == ("ab_0", "ab_1") and ex.feeding_lanes == ("a_in_0", "a_in_1")
    room = exits.room_veh({"ab_0": 3.0, "ab_1": 7.0}, {"a_in_1": 1})
    assert room == {("A", "ab"): pytest.approx(10.0 - 7.0 - 1.0)}
    assert exits.full_exits("A", room, min_room_veh=2.0) == frozenset()
    full = exits.room_veh({"ab_0": 3.0, "ab_1": 9.0})
    assert exits.full_exits("A", full, min_room_veh=2.0) == frozenset({"ab"})
    assert exits.full_exits("B", full, min_room_veh=2.0) == frozenset()  # B's exit leads nowhere watched


def test_exits_that_lead_to_no_controlled_signal_are_not_tracked() -> None:
    assert len(ExitLinks(MODELS, [])) == 0
    assert len(ExitLinks({"A": MODELS["A"]}, LINKS)) == 0  # B is not ours: no camera there
    assert edge_of_lane("-241660955#3_1") == "-241660955#3"

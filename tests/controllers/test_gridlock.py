"""The gridlock watchdog on hand-built camera views: what a lock is, what is not, how many."""

from __future__ import annotations

import numpy as np

from controllers.gridlock import GridlockWatchdog, JunctionView, clusters
from optimizer.corridor import CorridorLink


def view(queue: float = 0.0, head_stopped: bool = False, crossed: bool = False, green: bool = False,
         ok: bool = True) -> JunctionView:
    """One lane's view (a one-lane intersection)."""
    return JunctionView(np.array([queue]), np.array([head_stopped]), np.array([int(crossed)]), np.array([green]),
                        np.array([ok]))


def run(watchdog: GridlockWatchdog, views: dict[str, JunctionView], start_s: float, end_s: float) -> set[str]:
    locked: set[str] = set()
    for t in np.arange(start_s, end_s, 1.0):
        locked = set(watchdog.update(float(t), 1.0, views))
    return locked


def test_a_queue_through_its_green_without_a_crossing_is_a_lock_and_a_crossing_ends_it() -> None:
    dog = GridlockWatchdog({"X": 1}, lock_after_s=30.0)
    assert run(dog, {"X": view(5, head_stopped=True, green=True)}, 1, 31) == set()  # 30 s: not yet
    assert run(dog, {"X": view(5, head_stopped=True, green=True)}, 31, 33) == {"X"}
    assert dog.count == 1 and dog.events[0].start_s == 31.0 and dog.events[0].end_s is None
    assert run(dog, {"X": view(4, crossed=True, green=True)}, 33, 34) == set()
    assert dog.events[0].end_s == 33.0


def test_red_time_and_a_queue_that_moves_are_no_lock() -> None:
    dog = GridlockWatchdog({"X": 1}, lock_after_s=30.0)
    # a queue standing at red for 100 s while vehicles cross elsewhere at the junction
    other = JunctionView(np.array([5.0, 0.0]), np.array([True, False]), np.array([0, 1]), np.array([False, True]),
                         np.array([True, True]))
    two = GridlockWatchdog({"X": 2}, lock_after_s=30.0)
    assert run(two, {"X": other}, 1, 101) == set()
    # a queue discharging through its green
    assert run(dog, {"X": view(5, head_stopped=False, crossed=True, green=True)}, 1, 101) == set()
    assert dog.count == two.count == 0


def test_vehicles_waiting_while_nothing_crosses_anywhere_lock_only_after_waiting_that_long() -> None:
    dog = GridlockWatchdog({"X": 1}, lock_after_s=30.0, start_s=0.0)
    # nobody for 100 s, then a queue appears at red: not a lock for its first 30 s
    run(dog, {"X": view()}, 1, 101)
    assert run(dog, {"X": view(3)}, 101, 131) == set()
    assert run(dog, {"X": view(3)}, 131, 133) == {"X"}
    assert dog.events[0].scope == "intersection"


def test_an_intersection_with_a_camera_out_is_not_judged() -> None:
    dog = GridlockWatchdog({"X": 1}, lock_after_s=30.0)
    assert run(dog, {"X": view(5, head_stopped=True, green=True, ok=False)}, 1, 101) == set()
    assert dog.count == 0


def test_a_lock_that_sets_in_again_right_after_a_trickle_is_counted_once() -> None:
    dog = GridlockWatchdog({"X": 1}, lock_after_s=30.0)
    stuck = {"X": view(5, head_stopped=True, green=True)}
    run(dog, stuck, 1, 40)
    run(dog, {"X": view(5, head_stopped=True, crossed=True, green=True)}, 40, 41)  # one vehicle slips through
    assert run(dog, stuck, 41, 80) == {"X"}
    assert dog.count == 1
    run(dog, {"X": view(0, crossed=True, green=True)}, 80, 200)  # it clears for good
    run(dog, stuck, 200, 240)  # a new lock much later
    assert dog.count == 2


def test_a_cluster_locks_when_nothing_crosses_anywhere_in_it() -> None:
    links = [CorridorLink("A", "B", 20.0), CorridorLink("B", "A", 20.0), CorridorLink("C", "D", 20.0)]
    groups = clusters(["A", "B", "C", "D", "E"], links)
    assert groups == (("A", "B"), ("C", "D"))
    dog = GridlockWatchdog({tls: 1 for tls in "ABCDE"}, groups, lock_after_s=30.0)
    views = {"A": view(4), "B": view(), "C": view(4), "D": view(crossed=True), "E": view()}
    locked = run(dog, views, 1, 40)
    # B waits for nothing but is in A's locked cluster; C is locked on its own, its cluster moves
    assert locked == {"A", "B", "C"}
    scopes = sorted((e.scope, e.members) for e in dog.events)
    assert scopes == [("cluster", ("A", "B")), ("intersection", ("A",)), ("intersection", ("C",))]

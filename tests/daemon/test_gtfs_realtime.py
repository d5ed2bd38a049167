"""GTFS-realtime buses -> transit priority calls (pure matching on hand-built feeds), and the
polled source's staleness and the daemon's start/end records of field calls."""

from __future__ import annotations

import math
import time

import pytest
from google.transit import gtfs_realtime_pb2

from daemon.field_priority import FieldCall, FieldCalls, PolledSource
from daemon.gtfs_realtime import Approach, BusMatch, angle_off, bus_calls, distance_bearing, trip_delays
from daemon.prometheus import Metrics

LAT, LON = 52.0, 13.0
M_PER_DEG_LAT = math.pi / 180 * 6371008.8
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT))
NOW = 1_800_000_000.0
# J1's west approach (eastbound, stop line at the centre) and north approach (southbound)
WEST = Approach("J1", "W_J1", LAT, LON, 90.0, 300.0)
NORTH = Approach("J1", "N_J1", LAT, LON, 180.0, 300.0)
NEXT = Approach("J2", "W_J2", LAT, LON + 400 / M_PER_DEG_LON, 90.0, 300.0)  # the next signal east, 400 m on


def at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    return LAT + north_m / M_PER_DEG_LAT, LON + east_m / M_PER_DEG_LON


def positions(*buses: dict) -> gtfs_realtime_pb2.FeedMessage:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = int(NOW)
    for bus in buses:
        entity = feed.entity.add()
        entity.id = f"e-{bus['id']}"
        v = entity.vehicle
        v.vehicle.id = bus["id"]
        v.trip.trip_id, v.trip.route_id = bus.get("trip", f"trip-{bus['id']}"), bus.get("route", "R1")
        v.position.latitude, v.position.longitude = at(*bus["at"])
        if "heading" in bus:
            v.position.bearing = bus["heading"]
        if "speed" in bus:
            v.position.speed = bus["speed"]
        if "stamp" in bus:
            v.timestamp = int(bus["stamp"])
    return feed


def test_geometry_on_the_sphere() -> None:
    d, b = distance_bearing(*at(-100.0), LAT, LON)
    assert d == pytest.approx(100.0, abs=0.05) and b == pytest.approx(90.0, abs=0.01)
    d, b = distance_bearing(*at(0.0, 250.0), LAT, LON)
    assert d == pytest.approx(250.0, abs=0.05) and b == pytest.approx(180.0, abs=0.01)
    assert angle_off(350.0, 10.0) == pytest.approx(20.0) and angle_off(90.0, 270.0) == pytest.approx(180.0)


def test_a_bus_calls_only_upstream_in_range_and_heading_in() -> None:
    feed = positions(
        {"id": "in", "at": (-120.0, 0.0), "heading": 85.0, "speed": 10.0},      # W_J1, 120 m, 12 s
        {"id": "past", "at": (60.0, 0.0), "heading": 90.0, "speed": 10.0},      # crossed W_J1; 340 m before W_J2: out of range
        {"id": "away", "at": (-120.0, 0.0), "heading": 270.0, "speed": 10.0},   # on W_J1's road, driving off
        {"id": "far", "at": (-400.0, 0.0), "heading": 90.0},                    # beyond range_m
        {"id": "side", "at": (-50.0, 150.0), "heading": 90.0},                  # a parallel street: not upstream
    )
    broken = feed.entity.add()  # a feed's garbage: a NaN position calls nowhere
    broken.id = "nan"
    broken.vehicle.position.latitude, broken.vehicle.position.longitude = float("nan"), LON
    calls = bus_calls(feed, {}, [WEST, NORTH, NEXT], BusMatch(), NOW)
    assert [(c.call_id, c.tls, c.approach) for c in calls] == [("gtfs-in-J1", "J1", "W_J1")]
    # (a feed's latitude and longitude are 32-bit floats: 0.4 m here)
    assert calls[0].distance_m == pytest.approx(120.0, abs=0.5) and calls[0].eta_s == pytest.approx(12.0, abs=0.05)
    assert calls[0].vehicle_class == "bus" and calls[0].by == "gtfs-realtime"
    # without a reported heading the position alone decides; a stopped bus gets the nominal speed
    calls = bus_calls(positions({"id": "quiet", "at": (0.0, 100.0), "speed": 0.0}), {}, [WEST, NORTH], BusMatch(), NOW)
    assert [c.approach for c in calls] == ["N_J1"] and calls[0].eta_s == pytest.approx(100.0 / 8.0, abs=0.1)


def test_one_call_per_bus_at_the_next_signal_and_old_positions_ignored() -> None:
    feed = positions({"id": "b", "at": (200.0, 0.0), "heading": 90.0, "speed": 10.0})  # past J1, 200 m before J2
    assert [c.tls for c in bus_calls(feed, {}, [WEST, NEXT], BusMatch(), NOW)] == ["J2"]
    old = positions({"id": "b", "at": (-100.0, 0.0), "heading": 90.0, "stamp": NOW - 300})
    assert bus_calls(old, {}, [WEST], BusMatch(max_age_s=120), NOW) == []
    assert len(bus_calls(old, {}, [WEST], BusMatch(max_age_s=600), NOW)) == 1
    routes = positions({"id": "tram", "at": (-100.0, 0.0), "route": "T9"}, {"id": "bus", "at": (0.0, 80.0)})
    assert [c.call_id for c in bus_calls(routes, {}, [WEST, NORTH], BusMatch(routes=frozenset({"R1"})), NOW)] == \
        ["gtfs-bus-J1"]


def trip_updates(delays: dict[str, int], by_stop: bool = False) -> gtfs_realtime_pb2.FeedMessage:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    for trip, delay in delays.items():
        entity = feed.entity.add()
        entity.id = trip
        entity.trip_update.trip.trip_id = trip
        if by_stop:
            stop = entity.trip_update.stop_time_update.add()
            stop.departure.delay = delay
        else:
            entity.trip_update.delay = delay
    return feed


def test_late_buses_first_and_the_delay_threshold() -> None:
    feed = positions({"id": "early", "at": (-50.0, 0.0), "heading": 90.0},
                     {"id": "late", "at": (0.0, 250.0), "heading": 180.0},
                     {"id": "later", "at": (-280.0, 0.0), "heading": 90.0},
                     {"id": "unknown", "at": (-20.0, 0.0), "heading": 90.0})
    delays = trip_delays(trip_updates({"trip-early": -60, "trip-late": 120}))
    delays |= trip_delays(trip_updates({"trip-later": 300}, by_stop=True))
    assert delays == {"trip:trip-early": -60.0, "trip:trip-late": 120.0, "trip:trip-later": 300.0}
    calls = bus_calls(feed, delays, [WEST, NORTH], BusMatch(), NOW)
    assert [(c.call_id, c.detail["delay_s"]) for c in calls] == [("gtfs-later-J1", 300.0)]  # one per intersection
    without = bus_calls(feed, {}, [WEST, NORTH], BusMatch(), NOW)
    assert [c.call_id for c in without] == ["gtfs-unknown-J1"]  # no delays: the nearest
    # a threshold: an on-time, early or unknown bus gets none
    feed = positions({"id": "early", "at": (-50.0, 0.0)}, {"id": "unknown", "at": (-20.0, 0.0)})
    assert bus_calls(feed, delays, [WEST], BusMatch(min_delay_s=60), NOW) == []
    assert [c.call_id for c in bus_calls(feed, delays, [WEST], BusMatch(min_delay_s=-120), NOW)] == ["gtfs-early-J1"]


def test_a_source_keeps_its_last_calls_until_stale_and_the_daemon_logs_starts_and_ends() -> None:
    clock = [0.0]
    answers: list[object] = [[FieldCall("c1", "J1", "W_J1", "bus", 80.0, "gtfs-realtime", 10.0, {"delay_s": 30.0})],
                             RuntimeError("feed down"), RuntimeError("feed down"), []]

    def poll() -> list[FieldCall]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    metrics = Metrics()
    source = PolledSource("gtfs-realtime", poll, poll_s=1.0, stale_s=3.0, metrics=metrics, monotonic=lambda: clock[0])
    written: list[dict] = []
    calls = FieldCalls([source], written.append, metrics)
    assert calls.update(0.0) == []  # no poll yet
    source.poll_once()
    assert [c.vehicle_id for c in calls.update(1.0)] == ["c1"]
    assert [c.vehicle_id for c in calls.update(2.0)] == ["c1"]  # logged once
    for t in (1.0, 2.0):
        clock[0] = t
        source.poll_once()  # fails: the last calls stand
        assert [c.vehicle_id for c in calls.update(2.0 + t)] == ["c1"]
    assert metrics.get("phasewise_priority_source_errors_total", source="gtfs-realtime") == 2.0
    assert metrics.get("phasewise_priority_source_up", source="gtfs-realtime") == 0.0
    clock[0] = 3.5
    assert calls.update(6.0) == []  # stale: dropped
    clock[0] = 4.0
    source.poll_once()  # answers again, nobody calls
    assert calls.update(7.0) == [] and metrics.get("phasewise_priority_source_up", source="gtfs-realtime") == 1.0
    assert [(w["event"], w["t"]) for w in written] == [("priority", 1.0), ("priority-end", 6.0)]
    assert written[0]["delay_s"] == 30.0 and written[0]["eta_s"] == 10.0 and written[0]["by"] == "gtfs-realtime"
    assert metrics.get("phasewise_priority_calls_total", source="gtfs-realtime", **{"class": "bus"}) == 1.0


def test_the_poll_thread_never_blocks_the_caller() -> None:
    def slow() -> list[FieldCall]:
        time.sleep(0.5)
        return [FieldCall("c", "J1", "W_J1", "bus", 1.0, "gtfs-realtime")]

    source = PolledSource("slow", slow, poll_s=1.0, stale_s=3.0)
    source.start()
    try:
        started = time.perf_counter()
        assert source.calls() == ()  # the first poll is under way: nothing yet, and no wait for it
        assert time.perf_counter() - started < 0.1
    finally:
        source.stop()


def test_preempt_calls_are_served_first_come_first_served() -> None:
    """Preempt calls know no distance: each is placed 300 m out when it starts and closes in at
    12 m/s, so the earlier call ranks nearer, whatever its preempt number."""
    answers = [[FieldCall("p3", "J1", "S_J1", "emergency", None, "ntcip preempt 3")],
               [FieldCall("p1", "J1", "N_J1", "emergency", None, "ntcip preempt 1"),
                FieldCall("p3", "J1", "S_J1", "emergency", None, "ntcip preempt 3")]]
    source = PolledSource("ntcip J1", lambda: answers.pop(0), poll_s=1.0, stale_s=3.0, monotonic=lambda: 0.0)
    calls = FieldCalls([source], lambda record: None, Metrics())
    source.poll_once()
    assert [(c.vehicle_id, c.distance_m) for c in calls.update(10.0)] == [("p3", 300.0)]
    source.poll_once()
    assert {c.vehicle_id: c.distance_m for c in calls.update(15.0)} == {"p1": 300.0, "p3": 240.0}
    assert [(c.vehicle_id, c.distance_m) for c in calls.update(40.0)] == [("p3", 0.0), ("p1", 0.0)]  # oldest first

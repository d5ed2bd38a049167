"""Per-green discharge on a hand-built green: known headways, saturation flow, lost time."""

import math

import pytest

from counting.discharge import discharge_table, red_light_runners
from counting.events import CountedMovement, QueueSample
from vision.classes import CAR, MOTORCYCLE
from vision.signal_head import SignalInterval

HEAD_LANES = {"h": ["a"]}


def m(t, cls=CAR, lane="a"):
    return CountedMovement(t, lane, "nb", "through", cls, int(t * 100))


def queue(t, stopped):
    return QueueSample(t, "a", stopped, stopped, 0.0)


def test_headways_saturation_flow_and_startup_lost_time():
    # red 0-10, green 10-40 (onset seen), then yellow 40-43; 8 queued cars at onset.
    intervals = {"h": [SignalInterval("red", 0, 10, False), SignalInterval("green", 10, 40),
                       SignalInterval("yellow", 40, 43)]}
    # first car 3.0 s after onset, then 2.5, 2.2, 2.1, then a steady 2.0 s (vehicles 5-8)
    times = [13.0, 15.5, 17.7, 19.8, 21.8, 23.8, 25.8, 27.8, 41.0]   # the last one enters on yellow
    samples = [queue(10.0, 8), queue(43.0, 1)]
    (row,) = discharge_table(intervals, HEAD_LANES, [m(t) for t in times], samples)
    assert row.onset_seen and row.queue_at_onset_veh == 8
    assert row.served_veh == 9 and row.end_s == 43
    assert row.headways_s == pytest.approx((3.0, 2.5, 2.2, 2.1, 2.0, 2.0, 2.0, 2.0))
    assert row.saturation_flow_veh_h_lane == pytest.approx(1800.0)
    # lost time: (3.0 - 2) + (2.5 - 2) + (2.2 - 2) + (2.1 - 2) = 1.8 s
    assert row.startup_lost_time_s == pytest.approx(1.8)
    assert row.residual_queue_veh == 1


def test_two_wheelers_in_pcu_and_a_green_without_onset():
    intervals = {"h": [SignalInterval("green", 0, 5, start_seen=False), SignalInterval("red", 5, 30)]}
    moves = [m(1.0, MOTORCYCLE), m(2.0, MOTORCYCLE), m(3.0), m(12.0, MOTORCYCLE)]
    (row,) = discharge_table(intervals, HEAD_LANES, moves, [queue(0.0, 3)])
    assert not row.onset_seen and row.queue_at_onset_veh == -1 and row.headways_s == ()
    assert row.served_veh == 3 and row.served_pcu == pytest.approx(0.4 + 0.4 + 1.0)
    assert math.isnan(row.saturation_flow_veh_h_lane)
    assert [r.t_s for r in red_light_runners(intervals, HEAD_LANES, moves)] == [12.0]


def test_other_lanes_are_not_served_by_this_head():
    intervals = {"h": [SignalInterval("green", 0, 5)]}
    (row,) = discharge_table(intervals, HEAD_LANES, [m(1.0, lane="slip")], [])
    assert row.served_veh == 0

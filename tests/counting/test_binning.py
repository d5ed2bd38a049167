import math

import pytest

from counting.binning import bin_counts, bin_queues
from counting.events import Crossing, QueueSample
from counting.pcu import DEFAULT_PCU, pcu_of


def test_fifteen_minute_bins_with_zero_rows_and_pcu():
    crossings = [Crossing(10, "a", 2, 1), Crossing(899.9, "a", 7, 2), Crossing(900, "b", 5, 3)]
    rows = bin_counts(crossings, ["a", "b"], end_s=1000)
    assert len(rows) == 2 * 2 * 4                      # 2 bins x 2 lanes x 4 vehicle classes
    got = {(r.bin_start_s, r.lane, r.class_name): (r.count, r.pcu) for r in rows}
    assert got[(0, "a", "car")] == (1, 1.0)
    assert got[(0, "a", "truck")] == (1, 2.0)
    assert got[(900, "b", "bus")] == (1, 2.0)
    assert got[(900, "a", "car")] == (0, 0.0)
    assert sum(r.count for r in rows) == 3


def test_one_minute_bins_and_flow_rate():
    crossings = [Crossing(t, "a", 2, i) for i, t in enumerate([1, 2, 3, 61])]
    rows = [r for r in bin_counts(crossings, ["a"], bin_s=60) if r.class_name == "car"]
    assert [(r.bin_start_s, r.count) for r in rows] == [(0, 3), (60, 1)]
    assert rows[0].flow_veh_h == pytest.approx(180.0)


def test_pcu_defaults():
    assert pcu_of(3) == pytest.approx(0.4) and pcu_of(7) == 2.0 and pcu_of(2) == 1.0
    assert all(v >= 0 for v in DEFAULT_PCU.values())


def test_bad_bin_length_rejected():
    with pytest.raises(ValueError):
        bin_counts([], ["a"], bin_s=0)


def test_queue_bins_mean_and_max():
    s = [QueueSample(0, "a", 2, 1, 5.0), QueueSample(30, "a", 4, 3, 15.0), QueueSample(70, "a", 0, 0, 0.0)]
    rows = bin_queues(s, bin_s=60)
    assert (rows[0].mean_present, rows[0].max_stopped, rows[0].max_queue_m) == (3.0, 3, 15.0)
    assert rows[1].bin_start_s == 60 and rows[1].mean_queue_m == 0.0
    assert math.isnan(bin_queues([QueueSample(0, "a", 1, 0, float("nan"))])[0].mean_queue_m)

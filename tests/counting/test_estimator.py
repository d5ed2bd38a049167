"""The demand/queue estimator on small hand-built camera frames with known answers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counting.camera_frame import CameraFrame, CameraLayout
from counting.estimator import DemandEstimator, DetectionRates
from counting.kalman import RateFilter

ONE_LANE = CameraLayout("a", lanes=("a_0",), movements=("a:through",), lane_movements=((True,),), view_m=100.0)
SHARED = CameraLayout("b", lanes=("b_0",), movements=("b:through", "b:left"),
                      lane_movements=((True, True),), view_m=100.0)


def frame(layout: CameraLayout, t: float, *, crossings: list[tuple[int, int]] = (), present: int = 0,
          stopped: int = 0, queue_m: float = 0.0, green: bool = True, ok: bool = True) -> CameraFrame:
    n = len(layout.lanes)
    lanes = np.array([c[0] for c in crossings], dtype=np.int64)
    moves = np.array([c[1] for c in crossings], dtype=np.int64)
    return CameraFrame(t, layout.camera_id, ok, np.full(n, present), np.full(n, stopped),
                       np.full(n, queue_m), np.full(n, green), lanes, moves, np.full(lanes.size, 2))


def feed_steady(est: DemandEstimator, layout: CameraLayout, until_s: int, every_s: int = 4,
                move_of: Callable[[int], int] = lambda k: 0) -> None:
    """One crossing every ``every_s`` seconds (3600 / every_s veh/h), empty view otherwise."""
    for t in range(1, until_s + 1):
        crossings = [(0, move_of(t // every_s))] if t % every_s == 0 else []
        est.update(frame(layout, float(t), crossings=crossings))


def test_steady_rate_and_bins() -> None:
    est = DemandEstimator([ONE_LANE], bin_s=300.0)
    feed_steady(est, ONE_LANE, 1200)
    demand = est.estimate(1200.0)
    assert demand.flow_veh_h["a:through"] == pytest.approx(900.0, rel=0.03)
    assert 0.0 < demand.std_veh_h["a:through"] < 150.0
    assert est.bins() == {0.0: {"a:through": 75.0}, 300.0: {"a:through": 75.0}, 600.0: {"a:through": 75.0}}
    assert demand.flags["a"].ok and not demand.flags["a"].outage


def test_known_miss_rate_is_corrected() -> None:
    est = DemandEstimator([ONE_LANE], rates=DetectionRates(miss_rate=0.2))
    feed_steady(est, ONE_LANE, 1200, every_s=5)  # 720 veh/h seen = 900 veh/h real
    assert est.estimate(1200.0).flow_veh_h["a:through"] == pytest.approx(900.0, rel=0.03)


def test_vehicles_entering_the_view_count_as_arrivals_before_they_cross() -> None:
    est = DemandEstimator([ONE_LANE], bin_s=60.0)
    for t in range(1, 61):  # red: one vehicle joins the queue every 6 s, nobody crosses
        est.update(frame(ONE_LANE, float(t), present=t // 6, stopped=t // 6, queue_m=7.5 * (t // 6)))
    est.update(frame(ONE_LANE, 61.0, present=10, stopped=10, queue_m=75.0))
    assert est.bins()[0.0]["a:through"] == pytest.approx(10.0)


def test_queue_in_view() -> None:
    est = DemandEstimator([ONE_LANE])
    est.update(frame(ONE_LANE, 1.0, present=6, stopped=5, queue_m=35.0, green=False))
    demand = est.estimate(1.0)
    assert demand.queue_veh["a_0"] == 5.0 and demand.queue_m["a_0"] == 35.0
    assert not demand.spillback["a_0"]


def test_queue_beyond_the_view_grows_with_the_arrival_rate() -> None:
    est = DemandEstimator([ONE_LANE])
    feed_steady(est, ONE_LANE, 600, every_s=5)  # learn 720 veh/h = 0.2 veh/s
    for t in range(601, 661):  # 60 s of red with the stopped queue filling the view
        est.update(frame(ONE_LANE, float(t), present=13, stopped=13, queue_m=99.0, green=False))
    demand = est.estimate(660.0)
    assert demand.spillback["a_0"]
    assert demand.queue_veh["a_0"] == pytest.approx(13 + 0.2 * 60, abs=1.5)
    assert demand.queue_m["a_0"] == pytest.approx(99.0 + 12 * 7.5, abs=12.0)
    # Demand is not learnt from a blocked view: the rate stays where it was.
    assert demand.flow_veh_h["a:through"] == pytest.approx(720.0, rel=0.05)


def test_hidden_queue_drains_as_vehicles_enter_the_view() -> None:
    est = DemandEstimator([ONE_LANE])
    feed_steady(est, ONE_LANE, 600, every_s=5)
    for t in range(601, 661):
        est.update(frame(ONE_LANE, float(t), present=13, stopped=13, queue_m=99.0, green=False))
    hidden = est.estimate(660.0).queue_veh["a_0"] - 13
    for t in range(661, 661 + 60):  # green: one vehicle crosses per 2 s, the view stays full but moving
        est.update(frame(ONE_LANE, float(t), crossings=[(0, 0)] if t % 2 == 0 else [], present=13))
    demand = est.estimate(720.0)
    assert hidden > 8 and demand.queue_veh["a_0"] == 0.0 and not demand.spillback["a_0"]


def test_outage_keeps_the_last_rate_flags_it_and_imputes_bins() -> None:
    est = DemandEstimator([ONE_LANE], bin_s=300.0)
    feed_steady(est, ONE_LANE, 900)
    before = est.estimate(900.0)
    for t in range(901, 1201):
        est.update(frame(ONE_LANE, float(t), ok=False))
    during = est.estimate(1200.0)
    status = during.flags["a"]
    assert status.outage and not status.ok and status.outages == ((900.0, 1200.0),)
    assert during.flow_veh_h["a:through"] == before.flow_veh_h["a:through"]
    assert during.std_veh_h["a:through"] > before.std_veh_h["a:through"]
    est.update(frame(ONE_LANE, 1201.0))
    assert est.bins()[900.0]["a:through"] == pytest.approx(75.0, rel=0.05)
    after = est.estimate(1201.0).flags["a"]
    assert after.ok and after.outages == ((900.0, 1201.0),)


def test_forget_before_drops_old_bins_and_ended_outages_and_keeps_the_state() -> None:
    est = DemandEstimator([ONE_LANE], bin_s=300.0)
    feed_steady(est, ONE_LANE, 300)
    for t in range(301, 361):  # an outage that ends
        est.update(frame(ONE_LANE, float(t), ok=False))
    for t in range(361, 1201):
        est.update(frame(ONE_LANE, float(t), crossings=[(0, 0)] if t % 4 == 0 else []))
    for t in range(1201, 1211):  # an outage still going on
        est.update(frame(ONE_LANE, float(t), ok=False))
    rate = est.estimate(1210.0).flow_veh_h["a:through"]
    est.forget_before(900.0)
    assert sorted(est.bins()) == [900.0]  # the bins ending at 300, 600 and 900 s are gone
    status = est.estimate(1210.0).flags["a"]
    assert status.outage and status.outages == ((1200.0, 1210.0),)  # the ongoing one is kept
    assert est.estimate(1210.0).flow_veh_h["a:through"] == rate
    est.forget_before(0.0)  # nothing older: nothing more to drop
    assert sorted(est.bins()) == [900.0]


def test_implausible_and_stale_frames_are_flagged_not_used() -> None:
    est = DemandEstimator([ONE_LANE])
    feed_steady(est, ONE_LANE, 300)
    est.update(frame(ONE_LANE, 301.0, present=500, stopped=500))  # more than 100 m can hold
    demand = est.estimate(301.0)
    assert demand.flags["a"].implausible and demand.flags["a"].implausible_frames == 1
    assert demand.queue_veh["a_0"] == 0.0
    assert est.estimate(400.0).flags["a"].stale


def test_turning_ratios_on_a_shared_lane() -> None:
    est = DemandEstimator([SHARED])
    feed_steady(est, SHARED, 800, move_of=lambda k: 1 if k % 4 == 0 else 0)
    demand = est.estimate(800.0)
    assert demand.turning_ratios["b"]["b:through"] == pytest.approx(0.75, abs=0.02)
    assert demand.flow_veh_h["b:left"] == pytest.approx(225.0, rel=0.1)
    assert demand.flow_veh_h["b:through"] == pytest.approx(675.0, rel=0.1)


def test_saturation_flow_from_discharge_headways() -> None:
    est = DemandEstimator([ONE_LANE], saturation_prior_veh=1.0)
    t = 0
    for _ in range(10):  # cycles: 40 s red with 12 queued, then a 40 s green discharging every 3 s
        for _ in range(40):
            t += 1
            est.update(frame(ONE_LANE, float(t), present=12, stopped=12, queue_m=90.0, green=False))
        for k in range(40):
            t += 1
            left = max(12 - (k + 1) // 3, 0)
            est.update(frame(ONE_LANE, float(t), crossings=[(0, 0)] if (k + 1) % 3 == 0 and k < 36 else [],
                             present=left, stopped=left, queue_m=7.5 * left))
    assert est.estimate(float(t)).saturation_flow_veh_h_lane["a_0"] == pytest.approx(1200.0, rel=0.1)


def test_kalman_first_measurement_then_smoothing() -> None:
    f = RateFilter(2)
    f.correct(np.array([6.0, 0.0]), window_s=60.0)
    assert f.rate_veh_s.tolist() == [0.1, 0.0]
    f.predict(60.0)
    f.correct(np.array([12.0, 0.0]), window_s=60.0, mask=np.array([True, False]))
    assert 0.1 < f.rate_veh_s[0] < 0.2


frames_strategy = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(-2, 40), st.integers(-2, 40),
        st.one_of(st.floats(-10.0, 200.0), st.just(math.nan)),
        st.booleans(),
        st.lists(st.integers(0, 1), max_size=4),
    ),
    min_size=1, max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(frames_strategy)
def test_estimates_are_never_nan_or_negative(frames: list) -> None:
    est = DemandEstimator([SHARED], window_s=10.0, bin_s=20.0)
    for t, (ok, present, stopped, queue_end, green, moves) in enumerate(frames, start=1):
        est.update(frame(SHARED, float(t), crossings=[(0, m) for m in moves], present=present,
                         stopped=stopped, queue_m=queue_end, green=green, ok=ok))
        demand = est.estimate(float(t))
        values = [*demand.flow_veh_h.values(), *demand.std_veh_h.values(), *demand.queue_veh.values(),
                  *demand.queue_m.values(), *demand.saturation_flow_veh_h.values(),
                  *demand.turning_ratios["b"].values()]
        assert all(math.isfinite(v) and v >= 0.0 for v in values)
    assert all(v >= 0.0 for row in est.bins().values() for v in row.values())

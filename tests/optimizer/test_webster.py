"""Single-intersection optimisation: Webster/HCM by hand, bounds, oversaturation, zero demand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan, validate
from optimizer.webster import (
    IntersectionBounds,
    critical_flow_ratios,
    intersection_delay,
    movement_delays_s,
    permitted_saturation_veh_h,
    optimize_intersection,
    saturation_flows_veh_h,
    service_matrix,
    webster_cycle_s,
)
from phasewise_errors import PlanError
from tests.optimizer.conftest import two_phase_model


def demand(a: float, b: float) -> DemandEstimate:
    return DemandEstimate({"X": {"a:through": a, "b:through": b}})


def test_webster_cycle_and_critical_ratios(model: IntersectionModel) -> None:
    flows = np.array([600.0, 300.0])
    sat = saturation_flows_veh_h(model, flows)
    y = critical_flow_ratios(flows, sat, service_matrix(model, flows))
    assert y == pytest.approx([1 / 3, 1 / 6])
    assert webster_cycle_s(8.0, y.sum()) == pytest.approx((1.5 * 8 + 5) / 0.5)  # 34 s
    assert webster_cycle_s(8.0, 1.0) == math.inf


def test_delay_formula_by_hand() -> None:
    # C = 60 s, g = 30 s, v = 600 veh/h, s = 1800 veh/h: lambda = .5, c = 900, x = 2/3.
    delay, x = movement_delays_s(60.0, np.array([30.0]), np.array([600.0]), np.array([1800.0]), np.array([[1.0]]), 0.25)
    uniform = 0.5 * 60 * 0.25 / (1 - 2 / 3 * 0.5)  # 11.25 s
    incremental = 900 * 0.25 * ((2 / 3 - 1) + math.sqrt((2 / 3 - 1) ** 2 + 8 * 0.5 * (2 / 3) / (900 * 0.25)))
    assert x[0] == pytest.approx(2 / 3)
    assert delay[0] == pytest.approx(uniform + incremental)
    assert incremental == pytest.approx(3.899, abs=1e-3)


def test_split_favours_the_heavier_approach_and_balances_saturation(model: IntersectionModel) -> None:
    plan = optimize_intersection(model, demand(900.0, 450.0), cycle_s=68.0)
    greens = [p.green_s for p in plan.phases]
    assert plan.cycle_s == 68.0 and sum(greens) == 60.0
    assert greens[0] > greens[1]
    x = intersection_delay(model, demand(900.0, 450.0), 68.0, np.array(greens)).degree_of_saturation
    assert abs(x[0] - x[1]) < 0.15


def test_optimum_beats_webster_start_and_respects_the_cap(model: IntersectionModel) -> None:
    d = demand(800.0, 500.0)
    plan = optimize_intersection(model, d)
    greens = np.array([p.green_s for p in plan.phases])
    report = intersection_delay(model, d, plan.cycle_s, greens)
    assert report.max_degree_of_saturation <= 0.9 + 0.02
    even = intersection_delay(model, d, plan.cycle_s, np.full(2, greens.sum() / 2))
    assert report.total_veh_h_per_h <= even.total_veh_h_per_h + 1e-6


def test_zero_demand_gives_the_minimum_cycle(model: IntersectionModel) -> None:
    plan = optimize_intersection(model, demand(0.0, 0.0), IntersectionBounds(cycle_min_s=40.0))
    assert plan.cycle_s == 40.0
    assert [p.green_s for p in plan.phases] == [16.0, 16.0]


def test_oversaturation_stays_finite_and_uses_the_longest_cycle() -> None:
    model = two_phase_model(max_green_s=100.0)
    d = demand(2500.0, 1500.0)  # y = 1.39 + 0.83: far beyond capacity
    plan = optimize_intersection(model, d, IntersectionBounds(cycle_max_s=120.0))
    greens = np.array([p.green_s for p in plan.phases])
    assert np.all(np.isfinite(greens)) and plan.cycle_s == 120.0
    x = intersection_delay(model, d, plan.cycle_s, greens).degree_of_saturation
    assert all(math.isfinite(v) for v in x)
    assert abs(x[0] - x[1]) < 0.25  # queues balanced, not one approach starved


def test_infeasible_minimums_name_the_intersection_and_phases() -> None:
    heavy = two_phase_model("K9", min_green_s=50.0)
    with pytest.raises(PlanError, match=r"K9: minimum greens \(phase 0 50 s, phase 1 50 s\).*above the maximum cycle 90 s"):
        optimize_intersection(heavy, DemandEstimate({"K9": {}}), IntersectionBounds(cycle_max_s=90.0))
    with pytest.raises(PlanError, match="K9 phase 1: minimum green 70 s"):
        optimize_intersection(heavy, DemandEstimate({"K9": {}}), IntersectionBounds(cycle_max_s=300.0, ped_min_s={1: 70.0}))


@settings(max_examples=25, deadline=None)
@given(
    flows=st.lists(st.floats(min_value=0.0, max_value=2500.0), min_size=12, max_size=12),
    cycle_max=st.sampled_from([90.0, 120.0, 150.0]),
)
def test_optimized_plans_always_validate(corridor_models: dict[str, IntersectionModel], flows: list[float], cycle_max: float) -> None:
    model = corridor_models["J1"]
    d = DemandEstimate({"J1": {m.id: f for m, f in zip(model.movements, flows)}})
    plan = optimize_intersection(model, d, IntersectionBounds(cycle_max_s=cycle_max))
    validate(TimingPlan({"J1": plan}, "test"), corridor_models)
    assert plan.cycle_s <= cycle_max + 1e-9
    assert all(math.isfinite(p.green_s) for p in plan.phases)


def test_permitted_left_saturation_is_hcm_gap_acceptance() -> None:
    assert permitted_saturation_veh_h(0.0) == pytest.approx(3600 / 2.5)
    v = 600.0
    by_hand = v * math.exp(-v * 4.5 / 3600) / (1 - math.exp(-v * 2.5 / 3600))
    assert permitted_saturation_veh_h(v) == pytest.approx(by_hand)  # ~ 766 veh/h
    rates = [permitted_saturation_veh_h(v) for v in (100.0, 400.0, 800.0, 1600.0)]
    assert rates == sorted(rates, reverse=True)


def test_filtering_left_slows_its_shared_lane_more_against_more_opposing_flow(corridor_models: dict[str, IntersectionModel]) -> None:
    model = corridor_models["J1"]  # side streets: one lane each, the left turn filters (no protected phase)
    side = next(m for m in model.movements if m.approach.startswith("N") and m.turn == "through")

    def side_through_sat(opposing_veh_h: float) -> float:
        flows = {m.id: (opposing_veh_h if m.approach.startswith("S") and m.turn == "through" else 100.0) for m in model.movements}
        vector = np.array([flows[m.id] for m in model.movements])
        return float(saturation_flows_veh_h(model, vector)[model.movements.index(side)])

    light, heavy = side_through_sat(50.0), side_through_sat(500.0)
    assert heavy < light < 1800.0
    # the arterial through lanes carry no filtering left (the bay does): no reduction
    arterial = next(k for k, m in enumerate(model.movements) if m.approach == "J0_J1" and m.turn == "through")
    flows = np.full(len(model.movements), 100.0)
    lanes = len(model.movements[arterial].from_lanes)
    assert saturation_flows_veh_h(model, flows)[arterial] <= 1800.0 * lanes

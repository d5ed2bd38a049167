"""Queue storage as a constraint: short links and turn bays bound the cycle and move split."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.corridor import optimize_corridor
from optimizer.corridor_network import find_links
from optimizer.demand import DemandEstimate
from optimizer.demand_routes import demand_from_routes
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from optimizer.spillback import spill_backs
from optimizer.storage import JAM_SPACING_M, lane_storage_veh
from optimizer.webster import IntersectionBounds, intersection_storage, optimal_greens_s
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.scenario import Scenario


def test_storage_shortens_the_cycle_or_moves_green_to_the_short_lane(model: IntersectionModel) -> None:
    demand = DemandEstimate({"X": {"a:through": 700.0, "b:through": 500.0}})
    free_greens, free_cycle = optimal_greens_s(model, demand, IntersectionBounds())
    # b's lane holds 4 vehicles: its red (a's green + lost time 8 s) x 500/3600 veh/s must stay <= 4
    bounds = IntersectionBounds(storage_veh={"b_0": 4.0})
    greens, cycle = optimal_greens_s(model, demand, bounds)
    red_b = greens[0] + 8.0
    assert 500.0 / 3600.0 * (free_greens[0] + 8.0) > 4.0  # unconstrained, b's queue would spill
    assert 500.0 / 3600.0 * red_b <= 4.0 + 0.15  # constrained, it fits (whole-second rounding)
    assert cycle < free_cycle
    assert not spill_backs(_single_plan(model, greens), {"X": model}, demand, bounds)
    # at a fixed cycle (a corridor's common cycle) the constraint moves green from a to b
    lighter = DemandEstimate({"X": {"a:through": 600.0, "b:through": 500.0}})
    fixed_free, _ = optimal_greens_s(model, lighter, IntersectionBounds(), cycle_s=50.0)
    fixed, _ = optimal_greens_s(model, lighter, bounds, cycle_s=50.0)
    assert fixed[1] > fixed_free[1] and 500.0 / 3600.0 * (fixed[0] + 8.0) <= 4.0 + 0.15


def test_storage_never_overloads_a_movement(model: IntersectionModel) -> None:
    # at 50 s, b's 3.5 vehicles need a's green <= 17.2 s, but 700 veh/h on a need 21.6 s at x <= 0.9:
    # the cap wins (a queue that spills beats one that grows every cycle) and the spill-back is reported
    demand = DemandEstimate({"X": {"a:through": 700.0, "b:through": 500.0}})
    bounds = IntersectionBounds(storage_veh={"b_0": 3.5})
    greens, _ = optimal_greens_s(model, demand, bounds, cycle_s=50.0)
    assert 700.0 * 50.0 / (1800.0 * greens[0]) <= 0.9 + 0.01
    [spill] = spill_backs(_single_plan(model, greens, 50.0), {"X": model}, demand, bounds)
    assert spill.movement == "b:through" and not spill.any_cycle and "only by" in spill.describe()


def test_a_lane_too_short_for_any_cycle_is_reported(model: IntersectionModel) -> None:
    demand = DemandEstimate({"X": {"a:through": 700.0, "b:through": 500.0}})
    bounds = IntersectionBounds(storage_veh={"b_0": 1.0})  # 7.5 m: even a's minimum green queues more
    greens, _ = optimal_greens_s(model, demand, bounds)  # still a plan (storage dropped for it)
    [spill] = spill_backs(_single_plan(model, greens), {"X": model}, demand, bounds)
    assert spill.movement == "b:through" and spill.lane == "b_0" and spill.any_cycle
    assert spill.least_queue_veh == pytest.approx(500.0 / 3600.0 * (5.0 + 8.0))  # a at its min green
    assert "too short for any feasible cycle" in spill.describe()


def _single_plan(model: IntersectionModel, greens: np.ndarray, cycle_s: float | None = None):  # type: ignore[no-untyped-def]
    from optimizer.plan import TimingPlan
    from optimizer.webster import build_plan

    plan = build_plan(model, greens, 0.0, 0)
    assert cycle_s is None or plan.cycle_s == cycle_s
    return TimingPlan({model.tls_id: plan}, "test")


@pytest.fixture(scope="module")
def short_bays(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Two lights 100 m apart whose left-turn bays are 20 m long (netconvert), medium demand."""
    spec = CorridorSpec(intersections=2, spacing_m=100.0, left_turn_bay_m=20.0, demand="medium", duration_s=900.0)
    return build_corridor(spec, 1, tmp_path_factory.mktemp("short"))


def test_turn_bays_in_a_netconvert_network_bind(short_bays: Scenario) -> None:
    models = load_intersections(short_bays.net_file)
    storage = lane_storage_veh(short_bays.net_file, models)
    bays = [lane for m in models.values() for lane in m.incoming_lanes
            if {link.turn for link in m.links if link.from_lane == lane} == {"left"}]
    through = [lane for m in models.values() for mv in m.movements if mv.turn == "through" for lane in mv.from_lanes]
    assert max(storage[lane] for lane in bays) * JAM_SPACING_M < 20.0  # the bay, not the road behind it
    assert min(storage[lane] for lane in through) > 3 * max(storage[lane] for lane in bays)
    demand = demand_from_routes(models, short_bays.route_files, short_bays.begin_s, short_bays.end_s)
    links = find_links(short_bays.net_file, models)
    bounds = IntersectionBounds(storage_veh=storage)
    free = optimize_corridor(models, demand, links, 1.0, IntersectionBounds())
    held = optimize_corridor(models, demand, links, 1.0, bounds)

    def excess_veh(plan: TimingPlan) -> dict[str, float]:
        """Largest red-time queue beyond storage per light, and on which lane."""
        out = {}
        for tls_id, ip in plan.intersections.items():
            rows = intersection_storage(models[tls_id], demand, bounds)
            over = rows.queue_veh(np.array([p.green_s for p in ip.phases])) - rows.storage_veh
            out[rows.lanes[int(np.argmax(over))]] = float(over.max())
        return out

    unconstrained, constrained = excess_veh(free), excess_veh(held)
    assert max(unconstrained.values()) > 0.2 and max(unconstrained, key=unconstrained.__getitem__) in bays
    assert max(constrained.values()) <= 0.1  # the constraint binds: every queue now fits
    assert held.objective["cycle_s"] < free.objective["cycle_s"]

"""Trips get routes (duarouter, cached); the routed demand of the real scenarios is complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.corridor import optimize_corridor
from optimizer.demand_routes import demand_from_routes
from phasewise_errors import ScenarioError
from sumo_scenarios.network import load_intersections
from sumo_scenarios.routing import route_trips
from sumo_scenarios.scenario import Scenario


@pytest.mark.parametrize("name,vehicles", [("cologne1", 2015), ("ingolstadt7", 3031)])
def test_trip_files_are_routed_and_cached(shared_scenarios: Path, tmp_path: Path, name: str, vehicles: int) -> None:
    scenario = Scenario.from_sumocfg(shared_scenarios / name / f"{name}.sumocfg")
    [routed] = route_trips(scenario.net_file, scenario.route_files, tmp_path)
    assert routed.parent == tmp_path and routed.name.startswith(f"{name}.")
    text = routed.read_text()
    assert text.count("<vehicle ") == vehicles and text.count("<route ") == vehicles
    # a second call finds the cached file and does not write it again
    written_ns = routed.stat().st_mtime_ns
    assert route_trips(scenario.net_file, scenario.route_files, tmp_path) == (routed,)
    assert routed.stat().st_mtime_ns == written_ns
    assert [p.name for p in tmp_path.iterdir()] == [routed.name]  # no leftovers (alternatives, temp dirs)


def test_files_with_routes_are_kept(shared_scenarios: Path, tmp_path: Path) -> None:
    scenario = Scenario.from_sumocfg(shared_scenarios / "cologne3" / "cologne3.sumocfg")
    assert route_trips(scenario.net_file, scenario.route_files, tmp_path) == scenario.route_files
    assert not any(tmp_path.iterdir())


def test_missing_route_file(shared_scenarios: Path, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="nope.rou.xml: route file not found"):
        route_trips(shared_scenarios / "cologne1" / "cologne1.net.xml", [tmp_path / "nope.rou.xml"], tmp_path)


def test_cologne1_demand_and_plan_after_routing(shared_scenarios: Path, tmp_path: Path) -> None:
    # before routing every trip was skipped: zero demand, an all-minimum-green plan that took
    # cologne1 from 43 to 550 s/veh in SUMO
    scenario = Scenario.from_sumocfg(shared_scenarios / "cologne1" / "cologne1.sumocfg")
    models = load_intersections(scenario.net_file)
    routed = route_trips(scenario.net_file, scenario.route_files, tmp_path)
    demand = demand_from_routes(models, routed, scenario.begin_s, scenario.end_s)
    [(tls_id, model)] = models.items()
    assert sum(demand.of(tls_id).values()) == pytest.approx(2011, abs=5)  # of 2015 trips, 4 pass no light
    assert all(demand.flow(tls_id, m.id) > 0 for m in model.movements)
    plan = optimize_corridor(models, demand, (), time_limit_s=1.0).intersections[tls_id]
    assert any(p.green_s > p.min_green_s + 5 for p in plan.phases)

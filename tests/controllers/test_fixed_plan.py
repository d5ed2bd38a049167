"""FixedPlanController runs a timing plan in SUMO with its offsets."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from controllers.fixed_plan import FixedPlanController
from optimizer.corridor import optimize_corridor
from optimizer.corridor_network import find_links
from optimizer.demand_routes import demand_from_routes
from optimizer.plan import TimingPlan
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import RunJob, Simulation, run
from sumo_scenarios.scenario import Scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    built = build_corridor(CorridorSpec(intersections=2, demand="medium", duration_s=300.0), 1, tmp_path_factory.mktemp("fp"))
    return built


@pytest.fixture(scope="module")
def plan(scenario: Scenario) -> TimingPlan:
    models = load_intersections(scenario.net_file)
    demand = demand_from_routes(models, scenario.route_files, 0.0, 300.0)
    return optimize_corridor(models, demand, find_links(scenario.net_file, models), time_limit_s=1.0)


class _Recorder(FixedPlanController):
    """Records, per light, the times its coordinated green state appears."""

    def start(self, sim: Simulation) -> None:
        super().start(sim)
        self.starts: dict[str, list[float]] = {t: [] for t in self.plan.intersections}
        self._last: dict[str, str] = {}
        self._models = sim.intersections

    def step(self, sim: Simulation) -> None:
        for tls_id, ip in self.plan.intersections.items():
            state = sim.conn.trafficlight.getRedYellowGreenState(tls_id)
            coordinated = self._models[tls_id].phases[ip.coordinated_phase].state
            if state == coordinated and self._last.get(tls_id) != state:
                self.starts[tls_id].append(sim.time_s)
            self._last[tls_id] = state

    def report(self) -> dict:
        return {"starts": self.starts}


def test_plan_runs_with_its_offsets(scenario: Scenario, plan: TimingPlan) -> None:
    result = run(RunJob(scenario, 1, partial(_Recorder, plan)))
    assert result.metrics.throughput_veh > 0
    for tls_id, starts in result.extra["starts"].items():
        ip = plan.intersections[tls_id]
        later = [t for t in starts if t > ip.cycle_s]  # skip the first, possibly partial, cycle
        assert later, tls_id
        # The green state is first read one step after the switch time (SUMO switches lights
        # while advancing), the same one-second lag for every light, so offsets hold.
        assert all((t - ip.offset_s - 1.0) % ip.cycle_s == 0 for t in later), (tls_id, later, ip.offset_s)


def test_plan_file_round_trip(tmp_path: Path, plan: TimingPlan) -> None:
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    assert FixedPlanController.from_file(path).plan == plan

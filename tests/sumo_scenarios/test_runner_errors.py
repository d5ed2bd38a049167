"""The runner blames SUMO only for SUMO's errors; a controller's bug propagates as itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from controllers.static import StaticController
from phasewise_errors import ScenarioError, SimulationError
from sumo_scenarios.runner import RunJob, Simulation, run
from sumo_scenarios.scenario import Scenario


class BuggyController(StaticController):
    def step(self, sim: Simulation) -> None:
        raise ZeroDivisionError("a bug in the controller")


class AsksForAnUnknownLane(StaticController):
    def step(self, sim: Simulation) -> None:
        sim.conn.lane.getLastStepVehicleNumber("no-such-lane")


@pytest.fixture()
def short_cologne1(shared_scenarios: Path) -> Scenario:
    return Scenario.from_sumocfg(shared_scenarios / "cologne1" / "cologne1.sumocfg").with_period(end_s=25210)


def test_a_controller_bug_keeps_its_type_and_traceback(short_cologne1: Scenario) -> None:
    with pytest.raises(ZeroDivisionError, match="a bug in the controller") as caught:
        run(RunJob(short_cologne1, 1, BuggyController))
    assert caught.traceback[-1].name == "step"  # raised where the bug is, not re-raised by the runner


def test_sumo_errors_become_simulation_errors_with_context(short_cologne1: Scenario) -> None:
    with pytest.raises(SimulationError, match=r"cologne1 \(seed 1, controller static, the simulation, t=25200 s\): Lane 'no-such-lane'") as caught:
        run(RunJob(short_cologne1, 1, AsksForAnUnknownLane))
    assert caught.value.__cause__ is not None  # SUMO's own exception is kept


def test_routes_sumo_refuses_are_a_scenario_error(short_cologne1: Scenario, tmp_path: Path) -> None:
    routes = tmp_path / "bad.rou.xml"
    routes.write_text('<routes><vehicle id="a" depart="25200"><route edges="x y"/></vehicle></routes>')
    with pytest.raises(ScenarioError, match="SUMO could not load cologne1: .*bad.rou.xml: The edge 'x'"):
        run(RunJob(dataclasses.replace(short_cologne1, route_files=(routes,)), 1, StaticController))


def test_load_error_names_the_file_holding_what_sumo_names(tmp_path: Path) -> None:
    from sumo_scenarios.runner import load_error

    plan, routes, net = tmp_path / "plan.add.xml", tmp_path / "r.rou.xml", tmp_path / "n.net.xml"
    plan.write_text('<additional><tlLogic id="J0" programID="phasewise" type="foo"/></additional>')
    routes.write_text('<routes><vType id="t" maxSpeed="-5"/></routes>')
    net.write_text('<net><tlLogic id="J0" programID="0"/></net>')
    console = ["Loading net-file ... done.", "Error: Traffic light 'J0' has unknown type 'foo'.", "Error: Quitting."]
    assert load_error("x", console, [plan, routes, net], "Process Error") == \
        f"SUMO could not load x: {plan}: Traffic light 'J0' has unknown type 'foo'. (and more)"
    no_name = load_error("x", ["Error: maxSpeed must be greater than 0"], [routes, net], "Process Error")
    assert no_name == f"SUMO could not load x ({routes}, {net}): maxSpeed must be greater than 0"
    assert load_error("x", [], [net], "Process Error\n more") == f"SUMO could not load x ({net}): Process Error more"

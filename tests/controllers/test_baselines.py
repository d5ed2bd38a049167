"""Baselines in short real SUMO runs: they run, move traffic and never show unsafe states."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers.registry import controller_factory
from controllers.signal_head import SignalHead
from phasewise_errors import ConfigError, PlanError
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import RunJob, run
from sumo_scenarios.scenario import Scenario


@pytest.fixture(scope="module")
def cologne1_short(shared_scenarios: Path) -> Scenario:
    scenario = Scenario.from_sumocfg(shared_scenarios / "cologne1" / "cologne1.sumocfg")
    return scenario.with_period(end_s=scenario.begin_s + 900)


@pytest.mark.parametrize("name", ["static", "actuated", "maxpressure"])
def test_baselines_run_and_serve_traffic(cologne1_short: Scenario, name: str) -> None:
    result = run(RunJob(cologne1_short, 1, controller_factory(name)))
    m = result.metrics
    assert m.vehicles > 300
    assert m.throughput_veh > 0.8 * m.vehicles
    assert 0 < m.delay_s_per_vehicle < 200
    assert set(m.intersections) == {"GS_cluster_357187_359543"}


def test_maxpressure_beats_static_on_cologne1(cologne1_short: Scenario) -> None:
    static = run(RunJob(cologne1_short, 1, controller_factory("static"))).metrics
    pressure = run(RunJob(cologne1_short, 1, controller_factory("maxpressure"))).metrics
    assert pressure.delay_s_per_vehicle < static.delay_s_per_vehicle


def test_unknown_controller_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown controller 'nope'"):
        controller_factory("nope")


class _FakeLights:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def setRedYellowGreenState(self, tls_id: str, state: str) -> None:  # noqa: N802 (TraCI name)
        self.shown.append(state)


class _FakeConn:
    def __init__(self) -> None:
        self.trafficlight = _FakeLights()


def test_signal_head_times_yellow_all_red_and_min_green(shared_scenarios: Path) -> None:
    model = next(iter(load_intersections(shared_scenarios / "cologne1" / "cologne1.net.xml").values()))
    conn = _FakeConn()
    head = SignalHead(model, conn)  # type: ignore[arg-type]
    head.start()
    head.tick()
    with pytest.raises(PlanError, match="below its minimum green"):
        head.switch_to(2)
    for _ in range(int(model.phases[0].min_green_s)):
        head.tick()
    head.switch_to(2)
    seconds_per_state: dict[str, int] = {}
    for _ in range(20):
        seconds_per_state[conn.trafficlight.shown[-1]] = seconds_per_state.get(conn.trafficlight.shown[-1], 0) + 1
        head.tick()
    clearance = model.transition(0, 2)
    assert clearance and "y" in clearance[0][0]
    for state, duration_s in clearance:
        assert seconds_per_state[state] == duration_s
    assert head.phase == 2 and conn.trafficlight.shown[-1] == model.phases[2].state

"""RESCO delay: arrived, unfinished and never-inserted vehicles, from hand-written tripinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from sumo_scenarios.metrics import read_run_metrics, summarize
from sumo_scenarios.scenario import Scenario


def _scenario(tmp_path: Path) -> Scenario:
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        "<routes>"
        '<vehicle id="a" depart="0"><route edges="x"/></vehicle>'
        '<vehicle id="b" depart="10"><route edges="x"/></vehicle>'
        '<vehicle id="c" depart="60"><route edges="x"/></vehicle>'
        '<vehicle id="late" depart="500"><route edges="x"/></vehicle>'
        "</routes>"
    )
    return Scenario("t", tmp_path / "n.net.xml", (routes,), 0.0, 100.0)


def test_delay_counts_unfinished_and_never_inserted(tmp_path: Path) -> None:
    tripinfo = tmp_path / "tripinfo.xml"
    tripinfo.write_text(
        "<tripinfos>"
        '<tripinfo id="a" depart="0" departDelay="2" arrival="50" timeLoss="8" waitingCount="1"/>'
        '<tripinfo id="b" depart="12" departDelay="2" arrival="-1" timeLoss="20" waitingCount="3"/>'
        "</tripinfos>"
    )
    m = read_run_metrics(tripinfo, _scenario(tmp_path), {})
    # a: 8+2, b (unfinished): 20+2, c (never inserted): 100-60; 'late' is outside the period
    assert m.vehicles == 3
    assert m.delay_s_per_vehicle == pytest.approx((10 + 22 + 40) / 3, abs=1e-3)
    assert (m.throughput_veh, m.unfinished, m.never_inserted) == (1, 1, 1)
    assert m.stops_per_vehicle == pytest.approx(4 / 3, abs=1e-3)


def test_summary_has_the_documented_keys(tmp_path: Path) -> None:
    tripinfo = tmp_path / "tripinfo.xml"
    tripinfo.write_text('<tripinfos><tripinfo id="a" depart="0" departDelay="0" arrival="5" timeLoss="4" waitingCount="0"/></tripinfos>')
    run = read_run_metrics(tripinfo, _scenario(tmp_path), {})
    summary = summarize([run, run], [1, 2])
    for key in ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle", "vehicles", "unfinished", "never_inserted"):
        assert key in summary
    assert [s["seed"] for s in summary["per_seed"]] == [1, 2]


def test_intersection_probe_forgets_vehicles_gone_and_counts_the_same(tmp_path: Path) -> None:
    """A probe that forgets vehicles unseen for 60 steps counts as many vehicles per
    intersection as one that remembers every id, and holds fewer ids (a run of days)."""
    from sumo_scenarios.corridor import CorridorSpec, build_corridor
    from sumo_scenarios.metrics import IntersectionProbe
    from sumo_scenarios.network import load_intersections
    from sumo_scenarios.runner import sumo_binary, sumo_module

    scenario = build_corridor(CorridorSpec(demand="medium", intersections=2, duration_s=400), 1, tmp_path)
    models = load_intersections(scenario.net_file)
    conn = sumo_module()
    conn.start([sumo_binary(), "-n", str(scenario.net_file), "-r", str(scenario.route_files[0]),
                "--no-step-log", "true", "--no-warnings", "true", "--seed", "1"])
    try:
        remembers, forgets = IntersectionProbe(conn, models), IntersectionProbe(conn, models)
        remembers.FORGET_AFTER_STEPS, forgets.FORGET_AFTER_STEPS = 10**9, 60
        for _ in range(400):
            conn.simulationStep()
            remembers.sample()
            forgets.sample()
    finally:
        conn.close()
    full, bounded = remembers.summary(), forgets.summary()
    assert all(full[tls].vehicles > 50 for tls in models)
    assert {tls: m.vehicles for tls, m in bounded.items()} == {tls: m.vehicles for tls, m in full.items()}
    assert sum(map(len, forgets._seen)) < sum(map(len, remembers._seen)) / 2


class _Sumo:
    """A scripted stand-in for libsumo: one signal, approach lane ``a_0`` (link 0) into exit
    ``x_0``. ``play`` sets, per step, the signal state and which vehicles stand where."""

    def __init__(self) -> None:
        self.state, self.lanes, self.halting = "r", {"a_0": [], "x_0": []}, 0
        sumo = self

        class lane:
            getLastStepHaltingNumber = staticmethod(lambda l: sumo.halting if l == "a_0" else 0)
            getLastStepVehicleNumber = staticmethod(lambda l: len(sumo.lanes[l]))
            getLastStepMeanSpeed = staticmethod(lambda l: 0.0)
            getLastStepVehicleIDs = staticmethod(lambda l: tuple(sumo.lanes[l]))
            getMaxSpeed = staticmethod(lambda l: 13.9)

        class trafficlight:
            getRedYellowGreenState = staticmethod(lambda tls: sumo.state)

        class simulation:
            getDeltaT = staticmethod(lambda: 1.0)

        self.lane, self.trafficlight, self.simulation = lane, trafficlight, simulation


def test_the_longest_stall_counts_green_with_a_queue_and_nothing_coming_out(tmp_path: Path) -> None:
    from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
    from sumo_scenarios.metrics import IntersectionProbe

    model = IntersectionModel("J", (SignalLink(0, "a_0", "x_0", "a", "through"),),
                              (Movement("a:through", "a", "through", (0,), ("a_0",), ("x",)),),
                              (Phase(0, "G", 30.0, 5.0, 60.0),), 3.0, 0.0, 33.0)
    sumo = _Sumo()
    probe = IntersectionProbe(sumo, {"J": model})  # type: ignore[arg-type]

    def play(steps: int, state: str, on_approach: list[str], out: list[str]) -> None:
        sumo.state, sumo.lanes, sumo.halting = state, {"a_0": on_approach, "x_0": out}, len(on_approach)
        for _ in range(steps):
            probe.sample()

    play(60, "r", ["v1", "v2"], [])          # a long red: no stall
    play(20, "G", ["v1", "v2"], [])          # 20 s of green, nobody out
    play(30, "r", ["v1", "v2"], [])          # red again: the clock waits
    play(15, "G", ["v1", "v2"], [])          # 35 s of green in all
    play(1, "G", ["v2"], ["v1"])             # v1 comes out: the clock starts again
    play(10, "G", ["v2"], ["v1"])
    assert probe.summary()["J"].longest_stall_s == 35.0
    play(10, "g", ["v2"], ["v1"])            # a permitted turn waiting for a gap is no stall
    assert probe.summary()["J"].longest_stall_s == 35.0


def test_delay_by_vehicle_class_and_per_person(tmp_path: Path) -> None:
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        "<routes>"
        '<vType id="city_bus" vClass="bus"/><vType id="amb" vClass="emergency"/><vType id="car"/>'
        '<vehicle id="a" type="car" depart="0"><route edges="x"/></vehicle>'
        '<vehicle id="b" type="city_bus" depart="10"><route edges="x"/></vehicle>'
        '<vehicle id="c" type="city_bus" depart="60"><route edges="x"/></vehicle>'
        '<vehicle id="d" type="amb" depart="20"><route edges="x"/></vehicle>'
        '<vehicle id="e" depart="30"><route edges="x"/></vehicle>'
        "</routes>"
    )
    tripinfo = tmp_path / "tripinfo.xml"
    tripinfo.write_text(
        "<tripinfos>"
        '<tripinfo id="a" vType="car" depart="0" departDelay="0" arrival="50" timeLoss="10" waitingCount="1"/>'
        '<tripinfo id="b" vType="city_bus" depart="10" departDelay="1" arrival="-1" timeLoss="29" waitingCount="2"/>'
        '<tripinfo id="d" vType="amb" depart="20" departDelay="0" arrival="40" timeLoss="3" waitingCount="0"/>'
        '<tripinfo id="e" vType="DEFAULT_VEHTYPE" depart="30" departDelay="0" arrival="80" timeLoss="6" waitingCount="1"/>'
        '<personinfo id="p0" depart="0"><walk depart="0" arrival="70" timeLoss="12"/><walk depart="70" arrival="-1" timeLoss="4"/></personinfo>'
        '<personinfo id="p1" depart="5"><walk depart="5" arrival="40" timeLoss="0"/></personinfo>'
        "</tripinfos>"
    )
    m = read_run_metrics(tripinfo, Scenario("t", tmp_path / "n.net.xml", (routes,), 0.0, 100.0), {})
    by = m.by_vclass
    assert set(by) == {"passenger", "bus", "emergency", "pedestrian"}
    assert (by["passenger"].vehicles, by["passenger"].delay_s_per_vehicle) == (2, 8.0)  # car and the default type
    # the bus that never got in (c) is charged 100 - 60 s, as in the headline delay
    assert (by["bus"].vehicles, by["bus"].delay_s_per_vehicle, by["bus"].stops_per_vehicle) == (2, 35.0, 1.0)
    assert (by["emergency"].vehicles, by["emergency"].delay_s_per_vehicle) == (1, 3.0)
    assert (by["pedestrian"].vehicles, by["pedestrian"].delay_s_per_vehicle) == (2, 8.0)  # (12 + 4 + 0) / 2 persons
    assert m.vehicles == 5  # persons are not vehicles in the headline numbers
    summary = summarize([m, m], [1, 2])
    assert summary["by_vclass"]["bus"] == {"delay_s_per_vehicle": 35.0, "vehicles": 2.0, "stops_per_vehicle": 1.0}

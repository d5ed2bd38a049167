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

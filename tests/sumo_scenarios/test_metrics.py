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

"""Scenario files: the period when the sumocfg has no <time>, and one clear error for bad files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from phasewise_errors import ScenarioError
from sumo_scenarios.scenario import Scenario

WriteConfig = Callable[..., Path]


@pytest.fixture()
def cologne1_copy(tmp_path: Path, shared_scenarios: Path) -> WriteConfig:
    """A writer of cologne1 copies with another ``<time>`` section or route file."""

    def write(config: str, routes: str | None = None) -> Path:
        return _cologne1_copy(shared_scenarios / "cologne1", tmp_path, config, routes)

    return write


def _cologne1_copy(source: Path, tmp_path: Path, config: str, routes: str | None) -> Path:
    shutil.copy(source / "cologne1.net.xml", tmp_path / "cologne1.net.xml")
    if routes is None:
        shutil.copy(source / "cologne1.rou.xml", tmp_path / "cologne1.rou.xml")
    else:
        (tmp_path / "cologne1.rou.xml").write_text(routes)
    cfg = tmp_path / "c.sumocfg"
    cfg.write_text(
        '<configuration><input><net-file value="cologne1.net.xml"/>'
        f'<route-files value="cologne1.rou.xml"/></input>{config}</configuration>'
    )
    return cfg


def test_without_time_the_period_covers_the_departures(cologne1_copy: WriteConfig) -> None:
    # cologne1's trips depart from 25205 s to 28799 s; SUMO's default begin 0 with our old
    # default end 3600 simulated no vehicle at all and reported "delay 0.0"
    scenario = Scenario.from_sumocfg(cologne1_copy(""))
    assert (scenario.begin_s, scenario.end_s) == (25205.0, 28800.0)
    only_begin = Scenario.from_sumocfg(cologne1_copy('<time><begin value="27000"/></time>'))
    assert (only_begin.begin_s, only_begin.end_s) == (27000.0, 28800.0)
    until_empty = Scenario.from_sumocfg(cologne1_copy('<time><begin value="25200"/><end value="-1"/></time>'))
    assert until_empty.end_s == 28800.0


def test_flows_count_as_departures(cologne1_copy: WriteConfig) -> None:
    routes = '<routes><flow id="f" begin="100" end="700" period="10" from="a" to="b"/></routes>'
    scenario = Scenario.from_sumocfg(cologne1_copy("", routes))
    assert (scenario.begin_s, scenario.end_s) == (100.0, 701.0)


@pytest.mark.parametrize(
    "routes,message",
    [
        ("<routes><trip id='a' depart='0'", "not valid XML"),
        ("<net/>", "not a SUMO route file"),
        ("", "not valid XML"),
        ("<routes/>", "no <time> begin/end and no vehicle departures"),
    ],
)
def test_broken_route_files_are_named(cologne1_copy: WriteConfig, routes: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_sumocfg(cologne1_copy("", routes))


def test_missing_and_malformed_configs(tmp_path: Path, cologne1_copy: WriteConfig) -> None:
    with pytest.raises(ScenarioError, match="sumocfg file not found"):
        Scenario.from_sumocfg(tmp_path / "nope.sumocfg")
    bad = tmp_path / "bad.sumocfg"
    bad.write_text("<configuration><input>")
    with pytest.raises(ScenarioError, match="not valid XML"):
        Scenario.from_sumocfg(bad)
    bad.write_text('<configuration><input><net-file value="x.net.xml"/></input></configuration>')
    with pytest.raises(ScenarioError, match="x.net.xml not found"):
        Scenario.from_sumocfg(bad)
    cfg = cologne1_copy('<time><begin value="900"/><end value="soon"/></time>')
    with pytest.raises(ScenarioError, match="not a number"):
        Scenario.from_sumocfg(cfg)


def test_vehicles_in_additional_files_count_and_no_routes_keep_the_default(tmp_path: Path, shared_scenarios: Path) -> None:
    shutil.copy(shared_scenarios / "cologne1" / "cologne1.net.xml", tmp_path / "n.net.xml")
    (tmp_path / "v.add.xml").write_text('<additional><flow id="f" begin="50" end="650" period="10" from="a" to="b"/></additional>')
    cfg = tmp_path / "a.sumocfg"
    cfg.write_text('<configuration><input><net-file value="n.net.xml"/><additional-files value="v.add.xml"/></input></configuration>')
    assert (Scenario.from_sumocfg(cfg).begin_s, Scenario.from_sumocfg(cfg).end_s) == (50.0, 651.0)
    cfg.write_text('<configuration><input><net-file value="n.net.xml"/></input></configuration>')
    assert (Scenario.from_sumocfg(cfg).begin_s, Scenario.from_sumocfg(cfg).end_s) == (0.0, 3600.0)

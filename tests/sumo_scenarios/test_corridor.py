"""The built-in corridor: spec parsing, the netconvert network, the demand and a short SUMO run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sumolib

from phasewise_errors import ScenarioError
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.demand import entry_rate_veh_h, sample_arrivals_s
from sumo_scenarios.runner import sumo_binary

DEPART = re.compile(r'<vehicle id="([^"]+)" [^>]*depart="([0-9.]+)"')


def departures(route_file: Path) -> list[tuple[str, float]]:
    return [(vid, float(t)) for vid, t in DEPART.findall(route_file.read_text())]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corridor")


# --- spec --------------------------------------------------------------------------------


def test_parse_defaults_and_options() -> None:
    assert CorridorSpec.parse("corridor") == CorridorSpec()
    spec = CorridorSpec.parse(" corridor:demand=high, intersections=6,spacing_m=250 ")
    assert (spec.demand, spec.intersections, spec.spacing_m) == ("high", 6, 250.0)
    assert isinstance(spec.intersections, int) and isinstance(spec.spacing_m, float)
    assert CorridorSpec.parse("corridor:imbalance=0.5,left_turn_bay_m=0").left_turn_bay_m == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "grid",
        "corridor:colour=red",
        "corridor:intersections",
        "corridor:intersections=four",
        "corridor:intersections=2.5",
        "corridor:intersections=0",
        "corridor:demand=extreme",
        "corridor:spacing_m=-1",
        "corridor:spacing_m=100,left_turn_bay_m=90",
        "corridor:imbalance=1.5",
        "corridor:bus_headway_s=120,bus_dwell_s=-5",
        "corridor:bus_dwell_s=nan",
    ],
)
def test_parse_rejects_bad_specs(text: str) -> None:
    with pytest.raises(ScenarioError):
        CorridorSpec.parse(text)


# --- network -----------------------------------------------------------------------------


def test_network_has_one_signal_per_intersection(out_dir: Path) -> None:
    scenario = build_corridor(CorridorSpec(intersections=3), seed=1, out_dir=out_dir)
    net = sumolib.net.readNet(str(scenario.net_file), withPrograms=True)
    signals = sorted(n.getID() for n in net.getNodes() if n.getType() == "traffic_light")
    assert signals == ["J0", "J1", "J2"]
    assert sorted(tls.getID() for tls in net.getTrafficLights()) == signals
    assert (scenario.name, scenario.begin_s, scenario.end_s) == ("corridor-medium", 0.0, 3600.0)


def test_bays_are_left_turn_only_with_a_protected_left_phase(out_dir: Path) -> None:
    spec = CorridorSpec(intersections=3, arterial_lanes=2, left_turn_bay_m=60.0)
    net = sumolib.net.readNet(str(build_corridor(spec, 1, out_dir).net_file), withPrograms=True)
    for approach in ("W_J0", "J0_J1", "J2_J1", "E_J2"):
        edge = net.getEdge(approach)
        assert edge.getLaneNumber() == 3, approach
        assert net.getEdge(f"{approach}.up").getLaneNumber() == 2, approach
        turns = [{c.getDirection() for c in lane.getOutgoing()} for lane in edge.getLanes()]
        assert turns[-1] == {"l"}, approach
        assert all("l" not in t for t in turns[:-1]), approach
    # One phase gives both bays of J1 a protected green ('G') while everything else is red.
    tls = net.getTLS("J1")
    bay_links = {i for lane, _, i in tls.getConnections()
                 if lane.getEdge().getID() in ("J0_J1", "J2_J1") and lane.getIndex() == 2}
    assert len(bay_links) == 2
    states = [phase.state for phase in tls.getPrograms()["0"].getPhases()]
    assert any({i for i, c in enumerate(s) if c in "Gg"} == bay_links for s in states)


def test_no_bays_when_length_is_zero(out_dir: Path) -> None:
    spec = CorridorSpec(intersections=2, left_turn_bay_m=0.0)
    net = sumolib.net.readNet(str(build_corridor(spec, 1, out_dir).net_file))
    assert net.getEdge("J0_J1").getLaneNumber() == 2
    assert not net.hasEdge("J0_J1.up")


def test_network_is_cached_per_geometry(out_dir: Path) -> None:
    first = build_corridor(CorridorSpec(intersections=2, demand="low"), 1, out_dir)
    built_ns = first.net_file.stat().st_mtime_ns
    again = build_corridor(CorridorSpec(intersections=2, demand="high"), 2, out_dir)
    other = build_corridor(CorridorSpec(intersections=2, spacing_m=250.0), 1, out_dir)
    assert again.net_file == first.net_file and again.net_file.stat().st_mtime_ns == built_ns
    assert other.net_file != first.net_file


# --- demand ------------------------------------------------------------------------------


def test_same_seed_same_routes_other_seed_other_arrivals(out_dir: Path) -> None:
    spec = CorridorSpec(intersections=2)
    a = build_corridor(spec, 7, out_dir / "a").route_files[0]
    b = build_corridor(spec, 7, out_dir / "b").route_files[0]
    c = build_corridor(spec, 8, out_dir / "c").route_files[0]
    assert a.name == "corridor_medium_s7.rou.xml"
    assert a.read_bytes() == b.read_bytes()
    assert departures(a) != departures(c)
    with pytest.raises(ScenarioError):
        build_corridor(spec, -1, out_dir)


def test_routes_are_explicit_vehicles_sorted_by_depart(out_dir: Path) -> None:
    spec = CorridorSpec(intersections=2, duration_s=600.0)
    route_file = build_corridor(spec, 1, out_dir).route_files[0]
    text = route_file.read_text()
    assert "<flow" not in text
    times = [t for _, t in departures(route_file)]
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] < 600.0
    # Eastbound gets 60 % of arterial demand by default.
    assert text.count('id="W.') > text.count('id="E.')


def test_demand_levels_are_ordered(out_dir: Path) -> None:
    counts = {
        level: len(departures(build_corridor(CorridorSpec(demand=level), 1, out_dir).route_files[0]))
        for level in ("low", "medium", "high")
    }
    assert counts["low"] < counts["medium"] < counts["high"]
    # 4 intersections: 2 arterial entries at 800 veh/h mean + 8 side entries at 200 veh/h.
    assert counts["medium"] == pytest.approx(3200, rel=0.06)


def test_peak_is_higher_in_the_middle() -> None:
    rate = entry_rate_veh_h("peak", "arterial", duration_s=3600.0)
    start, middle, end = rate(np.array([0.0, 1800.0, 3599.0]))
    assert middle == pytest.approx(1.3 * 1200.0) and start == end == pytest.approx(800.0)
    arrivals = sample_arrivals_s(np.random.default_rng(3), rate, 3600.0, scale=2.0)
    first, middle_n, last = (np.sum((arrivals >= a) & (arrivals < a + 600)) for a in (0, 1500, 3000))
    assert middle_n > 1.5 * first and middle_n > 1.5 * last


# --- SUMO --------------------------------------------------------------------------------


def test_sumo_runs_the_corridor(out_dir: Path) -> None:
    scenario = build_corridor(CorridorSpec(demand="medium"), 1, out_dir).with_period(end_s=300.0)
    done = subprocess.run(
        [sumo_binary("sumo"), "-n", str(scenario.net_file), "-r", str(scenario.route_files[0]),
         "--end", str(scenario.end_s), "--no-step-log", "--duration-log.statistics"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    inserted = int(re.search(r"Inserted: (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert inserted > 200
    assert "Teleports" not in done.stdout


def test_pedestrians_add_crosswalks_and_persons_and_zero_changes_nothing(out_dir: Path) -> None:
    plain = build_corridor(CorridorSpec.parse("corridor:intersections=2,duration_s=600"), seed=3, out_dir=out_dir)
    zero = build_corridor(CorridorSpec.parse("corridor:intersections=2,duration_s=600,pedestrians=0"), seed=3,
                          out_dir=out_dir)
    assert zero.net_file == plain.net_file and zero.route_files == plain.route_files  # same files, same bytes
    assert 'function="crossing"' not in plain.net_file.read_text()
    spec = CorridorSpec.parse("corridor:intersections=2,duration_s=600,pedestrians=360")
    walk = build_corridor(spec, seed=3, out_dir=out_dir)
    vehicles, persons = walk.route_files
    assert vehicles.read_text() == plain.route_files[0].read_text()  # the same cars on the new network
    first = persons.read_bytes()
    assert build_corridor(spec, seed=3, out_dir=out_dir).route_files[1].read_bytes() == first  # reproducible
    assert 55 <= first.count(b"<person ") <= 65  # one every 10 s
    net = sumolib.net.readNet(str(walk.net_file), withPedestrianConnections=True)
    for tls in ("J0", "J1"):
        crossings = [e for e in net.getEdges(withInternal=True)
                     if e.getFunction() == "crossing" and e.getID().startswith(f":{tls}_")]
        assert len(crossings) >= 4, tls  # every approach: both side streets and the arterial on each side
    with pytest.raises(ScenarioError, match="pedestrians"):
        CorridorSpec.parse("corridor:pedestrians=-5")

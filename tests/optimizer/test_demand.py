"""Demand sources: the plain CSV, SUMO route files and vision counts; bad input is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from optimizer.demand import DemandEstimate, read_demand_csv
from optimizer.demand_counts import demand_from_counts
from optimizer.demand_routes import demand_from_routes, require_demand
from optimizer.intersection import IntersectionModel, Movement
from phasewise_errors import ConfigError
from sumo_scenarios.scenario import Scenario
from tests.optimizer.conftest import two_phase_model


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_reads_flows_and_std(tmp_path: Path) -> None:
    d = read_demand_csv(write(tmp_path, "d.csv", "tls,movement,flow_veh_h,std_veh_h\nX,a:through,600,30\nX,b:through,300,\n"))
    assert d.flow("X", "a:through") == 600.0 and d.std_veh_h["X"]["a:through"] == 30.0
    assert d.flow("X", "nothing") == 0.0


@pytest.mark.parametrize(
    "row, message",
    [
        ("X,a:through,-5", r"d.csv:2: X movement a:through: flow_veh_h -5 must be a non-negative number"),
        ("X,a:through,", r"d.csv:2: X movement a:through: flow_veh_h is missing"),
        ("X,a:through,lots", r"flow_veh_h 'lots' is not a number"),
    ],
)
def test_csv_bad_rows(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_demand_csv(write(tmp_path, "d.csv", f"tls,movement,flow_veh_h\n{row}\n"))


def test_unknown_movement_and_tls_are_named(model: IntersectionModel) -> None:
    with pytest.raises(ConfigError, match="X: demand for movement 'c:left', which does not exist"):
        DemandEstimate({"X": {"c:left": 10.0}}).check({"X": model})
    with pytest.raises(ConfigError, match="traffic light 'Q'"):
        DemandEstimate({"Q": {}}).check({"X": model})


def test_routes_count_movements(corridor_scenario: Scenario, corridor_models: dict[str, IntersectionModel]) -> None:
    d = demand_from_routes(corridor_models, corridor_scenario.route_files, 0.0, 900.0)
    d.check(corridor_models)
    # Eastbound arterial through at J0 dominates; high demand is 1440 veh/h eastbound at the entry.
    assert 900 < d.flow("J0", "W_J0:through") < 1400
    assert d.flow("J0", "W_J0:through") > d.flow("J0", "J1_J0:through")


def test_route_file_with_flows_and_named_routes(tmp_path: Path, model: IntersectionModel) -> None:
    routes = write(tmp_path, "r.rou.xml", """<routes>
        <route id="ra" edges="a a2"/>
        <flow id="f" route="ra" begin="0" end="1800" vehsPerHour="600"/>
        <vehicle id="v" depart="10"><route edges="b b2"/></vehicle>
        <vehicle id="late" depart="4000"><route edges="b b2"/></vehicle>
    </routes>""")
    d = demand_from_routes({"X": model}, [routes], 0.0, 3600.0)
    assert d.flow("X", "a:through") == pytest.approx(300.0)  # 300 vehicles in the hour
    assert d.flow("X", "b:through") == pytest.approx(1.0)


def test_counts_with_lane_map(tmp_path: Path) -> None:
    counts = write(tmp_path, "c.csv", "bin_start,lane,class,count\n0,n1,car,40\n0,n1,truck,5\n900,n1,car,55\n0,n2,car,10\n900,n2,car,10\n")
    lane_map = write(tmp_path, "m.csv", "lane,tls,movement,share\nn1,X,a:through,1\nn2,X,b:through,0.5\nn2,X,a:through,0.5\n")
    d = demand_from_counts(counts, lane_map)
    # a: bins 45+5, 55+5 -> mean 55 per 15 min = 220 veh/h; b: 5 per bin = 20 veh/h.
    assert d.flow("X", "a:through") == pytest.approx(220.0)
    assert d.flow("X", "b:through") == pytest.approx(20.0)
    assert d.std_veh_h["X"]["a:through"] == pytest.approx(20.0)
    with pytest.raises(ConfigError, match="lane 'n9' is not in the lane map"):
        demand_from_counts(write(tmp_path, "c2.csv", "bin_start,lane,class,count\n0,n9,car,1\n"), lane_map)


def test_trips_without_routes_are_refused_with_the_fix(tmp_path: Path, model: IntersectionModel) -> None:
    # cologne1 and ingolstadt7 hold only such trips: skipping them gave an all-minimum-green plan
    routes = write(tmp_path, "trips.rou.xml", """<routes>
        <vehicle id="v" depart="10"><route edges="a a2"/></vehicle>
        <trip id="t1" depart="20" from="a" to="a2"/>
        <trip id="t2" depart="30" from="b" to="b2"/>
        <trip id="late" depart="9000" from="b" to="b2"/>
    </routes>""")
    with pytest.raises(ConfigError, match=r"trips.rou.xml: 2 vehicle\(s\) departing in \[0, 3600\) s are trips without a route.*duarouter"):
        demand_from_routes({"X": model}, [routes], 0.0, 3600.0)


def test_a_light_without_demand_is_refused_but_an_unused_movement_is_not(tmp_path: Path, model: IntersectionModel) -> None:
    routes = write(tmp_path, "r.rou.xml", '<routes><vehicle id="v" depart="10"><route edges="a a2"/></vehicle></routes>')
    d = demand_from_routes({"X": model}, [routes], 0.0, 3600.0)  # b:through has none: allowed
    assert d.flow("X", "a:through") == 1.0 and d.flow("X", "b:through") == 0.0
    other = dataclasses.replace(two_phase_model("Y"), movements=(
        Movement("c:through", "c", "through", (0,), ("c_0",), ("c2",)),
        Movement("d:through", "d", "through", (1,), ("d_0",), ("d2",)),
    ))
    with pytest.raises(ConfigError, match=r"no vehicle in \[0, 3600\) s crosses 1 of 2 traffic lights \(Y\) \(movements of Y: c:through, d:through\).*--begin/--end"):
        demand_from_routes({"X": model, "Y": other}, [routes], 0.0, 3600.0)
    with pytest.raises(ConfigError, match=r"crosses any traffic light"):
        demand_from_routes({"X": model}, [routes], 100.0, 3600.0)
    require_demand({"X": model}, DemandEstimate({"X": {"b:through": 5.0}}))


def test_route_distributions_share_their_vehicles(tmp_path: Path, model: IntersectionModel) -> None:
    routes = write(tmp_path, "d.rou.xml", """<routes>
        <routeDistribution id="rd">
            <route id="ra" edges="a a2" probability="3"/>
            <route id="rb" edges="b b2" probability="1"/>
        </routeDistribution>
        <flow id="f" route="rd" begin="0" end="3600" number="400"/>
    </routes>""")
    d = demand_from_routes({"X": model}, [routes], 0.0, 3600.0)
    assert (d.flow("X", "a:through"), d.flow("X", "b:through")) == pytest.approx((300.0, 100.0))

"""The intersection model derived from real and generated SUMO networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasewise_errors import ScenarioError
from sumo_scenarios.network import load_intersections


@pytest.mark.parametrize("name,count", [("cologne1", 1), ("cologne3", 3), ("ingolstadt7", 7)])
def test_real_networks_have_every_traffic_light(shared_scenarios: Path, name: str, count: int) -> None:
    models = load_intersections(shared_scenarios / name / f"{name}.net.xml")
    assert len(models) == count
    for model in models.values():
        assert len(model.phases) >= 2
        # every link of the program is green in some phase, and every phase is safe
        served = set().union(*(p.green_links for p in model.phases))
        assert served == {link.index for link in model.links}
        for phase in model.phases:
            assert model.unsafe_pairs(phase.state) == []
            assert phase.min_green_s <= phase.duration_s <= phase.max_green_s


def test_cologne1_movements_and_clearance(shared_scenarios: Path) -> None:
    model = next(iter(load_intersections(shared_scenarios / "cologne1" / "cologne1.net.xml").values()))
    assert len(model.links) == 20
    turns = {m.turn for m in model.movements}
    assert {"left", "through", "right"} <= turns
    assert model.yellow_s == 5.0  # the program's own yellow
    # 0 -> 1: permissive left keeps its green (g), the through movements get yellow then red
    # The program has 5 s yellows and no all-red phase: the model keeps the engineer's choice.
    assert model.transition(0, 1) == [("rrrrryyyggrrrrryyygg", 5.0)]
    assert model.transition(1, 1) == []


def test_conflicts_come_from_the_program(shared_scenarios: Path) -> None:
    model = next(iter(load_intersections(shared_scenarios / "cologne1" / "cologne1.net.xml").values()))
    # north-south through (phase 0) and east-west through (phase 2) are never green together
    ns_through = sorted(model.phases[0].green_links - model.phases[1].green_links)[0]
    ew_through = sorted(model.phases[2].green_links - model.phases[3].green_links)[0]
    pair = tuple(sorted((ns_through, ew_through)))
    assert pair in model.conflicts
    both = "".join("G" if i in pair else "r" for i in range(model.state_length))
    assert model.unsafe_pairs(both) == [pair]


def test_missing_and_malformed_networks(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found"):
        load_intersections(tmp_path / "nope.net.xml")
    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id='a'")
    with pytest.raises(ScenarioError, match="bad.net.xml: not valid XML"):
        load_intersections(bad)
    routes = tmp_path / "routes.rou.xml"
    routes.write_text("<routes/>")
    with pytest.raises(ScenarioError, match="routes.rou.xml: not a SUMO network .* root element is <routes>"):
        load_intersections(routes)
    with pytest.raises(ScenarioError, match="is a folder"):
        load_intersections(tmp_path)
    empty = tmp_path / "empty.net.xml"
    empty.write_text('<net version="1.20"><location netOffset="0,0" convBoundary="0,0,1,1" origBoundary="0,0,1,1" projParameter="!"/></net>')
    with pytest.raises(ScenarioError, match="no traffic lights"):
        load_intersections(empty)


def test_all_red_only_when_a_link_turns_green(tmp_path: Path) -> None:
    from sumo_scenarios.corridor import CorridorSpec, build_corridor

    scenario = build_corridor(CorridorSpec(intersections=1, duration_s=60.0), 1, tmp_path)
    model = next(iter(load_intersections(scenario.net_file).values()))
    assert (model.yellow_s, model.all_red_s) == (3.0, 2.0)
    # through phase -> protected left already permitted in it: nothing turns green, no all-red
    # (as netconvert's own program); protected left -> side street: all-red before the side goes
    assert [d for _, d in model.transition(0, 1)] == [3.0]
    assert [d for _, d in model.transition(1, 2)] == [3.0, 2.0]
    assert set(model.transition(1, 2)[1][0]) == {"r"}

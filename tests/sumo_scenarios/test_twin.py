"""The gate's twin: entries vs internal approaches, connected routes, flows, queues, seeds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sumo_scenarios.twin import QUEUE_SPACING_M, TwinNetwork, build_twin
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from phasewise_errors import ScenarioError
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections

VEHICLE = re.compile(
    r'<vehicle id="([^"]+)" depart="([0-9.]+)" departLane="([^"]+)" departPos="([^"]+)" '
    r'departSpeed="([^"]+)">\s*<route edges="([^"]+)"/>'
)


def vehicles(route_file: Path) -> list[tuple[str, float, str, str, str, list[str]]]:
    return [(v, float(t), lane, pos, speed, edges.split())
            for v, t, lane, pos, speed, edges in VEHICLE.findall(route_file.read_text())]


@pytest.fixture(scope="module")
def corridor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, IntersectionModel]]:
    scenario = build_corridor(CorridorSpec(intersections=3), seed=1, out_dir=tmp_path_factory.mktemp("corridor"))
    return scenario.net_file, load_intersections(scenario.net_file)


def flows_for(models: dict[str, IntersectionModel]) -> DemandEstimate:
    """Hand-made demand: arterial through 600, left 50, right 150 veh/h; side streets 100 each."""
    per_turn = {"through": 600.0, "left": 50.0, "right": 150.0}
    flows = {
        tls: {m.id: per_turn[m.turn] if m.approach.startswith(("W_", "E_", "J")) else 100.0 for m in model.movements}
        for tls, model in models.items()
    }
    return DemandEstimate(flows)


def test_entry_and_internal_approaches(corridor: tuple[Path, dict[str, IntersectionModel]]) -> None:
    network = TwinNetwork(*corridor)
    assert set(network.internal_approaches) == {"J0_J1", "J1_J0", "J1_J2", "J2_J1"}
    assert set(network.entry_approaches) == {"W_J0", "E_J2", "N0_J0", "S0_J0", "N1_J1", "S1_J1", "N2_J2", "S2_J2"}
    assert network.lead_in("W_J0") == ["W_J0.up", "W_J0"]  # arrivals start before the bay
    assert network.lead_in("N1_J1") == ["N1_J1"]


def test_routes_are_connected_and_respect_entry_flows(
    corridor: tuple[Path, dict[str, IntersectionModel]], tmp_path: Path
) -> None:
    net_file, models = corridor
    network = TwinNetwork(net_file, models)
    demand = flows_for(models)
    horizon_s = 4 * 3600.0
    twin = build_twin(net_file, models, demand, {}, horizon_s, seed=3, out_dir=tmp_path, network=network)
    rows = vehicles(twin.route_files[0])
    assert twin.end_s == horizon_s and rows
    assert all(network.connected(edges) for *_, edges in rows)
    assert all(network.continuation(edges[-1]) is None for *_, edges in rows)  # every route leaves the network
    departs = [t for _, t, *_ in rows]
    assert departs == sorted(departs) and 0.0 <= departs[0] and departs[-1] < horizon_s
    for approach, flow_veh_h in (("W_J0", 800.0), ("N1_J1", 300.0)):
        count = sum(1 for vid, *_ in rows if vid.startswith(f"a.{approach}."))
        expected = flow_veh_h * horizon_s / 3600.0
        assert abs(count - expected) < 4.0 * np.sqrt(expected), (approach, count, expected)
    # Internal approaches get no arrivals of their own; their traffic comes from upstream.
    assert not any(vid.startswith("a.J0_J1.") for vid, *_ in rows)
    # Turning shares at an internal approach follow its movement flows (left 50 of 800).
    through_j1 = [edges for *_, edges in rows if "J0_J1" in edges and edges[-1] != "J0_J1"]
    lefts = sum(1 for edges in through_j1 if edges[edges.index("J0_J1") + 1] == "J1_N1")
    share = lefts / len(through_j1)
    assert abs(share - 50.0 / 800.0) < 4.0 * np.sqrt(share * (1 - share) / len(through_j1))


def test_initial_queues_stand_at_the_stop_line(corridor: tuple[Path, dict[str, IntersectionModel]], tmp_path: Path) -> None:
    net_file, models = corridor
    twin = build_twin(net_file, models, flows_for(models), {"W_J0_1": 4.0, "W_J0_2": 2.4, "J0_J1_0": 0.2},
                      horizon_s=60.0, seed=1, out_dir=tmp_path)
    queued = [row for row in vehicles(twin.route_files[0]) if row[0].startswith("q.")]
    assert [row[0] for row in queued] == [f"q.W_J0_1.{k}" for k in range(4)] + [f"q.W_J0_2.{k}" for k in range(2)]
    assert all(t == 0.0 and speed == "0" for _, t, _, _, speed, _ in queued)
    positions = [float(pos) for vid, _, _, pos, _, _ in queued if vid.startswith("q.W_J0_1.")]
    assert np.allclose(np.diff(positions), -QUEUE_SPACING_M)
    # Vehicles in the left-turn bay (lane 2) turn left.
    assert all(edges[:2] == ["W_J0", "J0_N0"] for vid, _, lane, _, _, edges in queued if lane == "2")

    import libsumo

    from sumo_scenarios.runner import sumo_binary

    libsumo.start([sumo_binary("sumo"), "-n", str(net_file), "-r", str(twin.route_files[0]), "--no-step-log", "true"])
    try:
        libsumo.simulationStep()
        departed = [v for v in libsumo.simulation.getDepartedIDList() if v.startswith("q.")]
        assert sorted(departed) == sorted(row[0] for row in queued)  # all inserted at t=0
        assert libsumo.vehicle.getLaneID("q.W_J0_1.3") == "W_J0_1"
        assert libsumo.vehicle.getLaneID("q.W_J0_2.1") == "W_J0_2"
    finally:
        libsumo.close()


def test_queue_overflow_becomes_a_backlog(corridor: tuple[Path, dict[str, IntersectionModel]], tmp_path: Path) -> None:
    net_file, models = corridor
    twin = build_twin(net_file, models, flows_for(models), {"N1_J1_0": 40.0}, 60.0, seed=1, out_dir=tmp_path)
    queued = [row for row in vehicles(twin.route_files[0]) if row[0].startswith("q.")]
    assert len(queued) == 40
    assert sum(1 for row in queued if row[2] == "best") == 40 - int((186.4 - 0.5) // QUEUE_SPACING_M)


def test_same_seed_same_twin(corridor: tuple[Path, dict[str, IntersectionModel]], tmp_path: Path) -> None:
    net_file, models = corridor
    demand = flows_for(models)
    texts = [
        build_twin(net_file, models, demand, {"W_J0_1": 3}, 900.0, seed, tmp_path / f"{k}").route_files[0].read_bytes()
        for k, seed in enumerate((5, 5, 6))
    ]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_unknown_queue_lane_is_an_error(corridor: tuple[Path, dict[str, IntersectionModel]], tmp_path: Path) -> None:
    net_file, models = corridor
    with pytest.raises(ScenarioError, match="nowhere_0"):
        build_twin(net_file, models, flows_for(models), {"nowhere_0": 3}, 900.0, 1, tmp_path)

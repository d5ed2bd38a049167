"""Outputs: the SUMO additional file loads in sumo, the timing sheet and time-space diagram."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from optimizer.corridor import optimize_corridor
from optimizer.corridor_network import find_links
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from optimizer.sumo_export import plan_to_additional, program_phases, write_additional
from optimizer.time_space import corridor_order, plot_time_space
from optimizer.timing_sheet import timing_sheet
from sumo_scenarios.runner import sumo_binary


@pytest.fixture(scope="module")
def plan_and_links(corridor_models: dict[str, IntersectionModel], net_file: Path) -> tuple[TimingPlan, tuple]:
    links = find_links(net_file, corridor_models)
    flows = {t: {m.id: 300.0 for m in model.movements} for t, model in corridor_models.items()}
    return optimize_corridor(corridor_models, DemandEstimate(flows), links, time_limit_s=1.0), links


def test_program_covers_the_cycle(plan_and_links: tuple, corridor_models: dict[str, IntersectionModel]) -> None:
    plan, _ = plan_and_links
    for tls_id, ip in plan.intersections.items():
        assert sum(d for _, d in program_phases(ip, corridor_models[tls_id])) == pytest.approx(ip.cycle_s)


def test_additional_file_loads_in_sumo(plan_and_links: tuple, corridor_models: dict[str, IntersectionModel], net_file: Path, tmp_path: Path) -> None:
    plan, _ = plan_and_links
    path = write_additional(plan, corridor_models, tmp_path / "plan.add.xml")
    assert 'programID="phasewise"' in path.read_text()
    done = subprocess.run([sumo_binary("sumo"), "-n", str(net_file), "-a", str(path), "--end", "10"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_json_round_trip_keeps_the_export(plan_and_links: tuple, corridor_models: dict[str, IntersectionModel]) -> None:
    plan, _ = plan_and_links
    again = TimingPlan.from_json(plan.to_json())
    assert plan_to_additional(again, corridor_models) == plan_to_additional(plan, corridor_models)


def test_timing_sheet_and_diagram(plan_and_links: tuple, tmp_path: Path) -> None:
    plan, links = plan_and_links
    sheet = timing_sheet(plan)
    assert sheet.splitlines()[0].startswith("tls") and sheet.count("*") == 3
    assert [t for t, _, _ in corridor_order(links, list(plan.intersections))] in (["J0", "J1", "J2"], ["J2", "J1", "J0"])
    png = plot_time_space(plan, links, tmp_path / "ts.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_green_with_a_crossing_ends_in_flashing_dont_walk() -> None:
    from optimizer.webster import build_plan
    from tests.controllers.test_pedestrians import crossing_model

    model = crossing_model()  # crossing 2 walks with phase 0, crossing 3 with phase 1; 6.4 m: 6 s clearance
    clearance = 6.4 / 1.07
    ip = build_plan(model, [30.0, 10.0], 0.0, 0)
    program = program_phases(ip, model)
    assert program[:2] == [("GrGr", pytest.approx(30.0 - clearance)), ("Grrr", pytest.approx(clearance))]
    greens_1 = [(s, d) for s, d in program if s.startswith("rG")]
    assert greens_1 == [("rGrr", 10.0)]  # 10 s < walk 7 s + clearance 6 s: no walk at all
    assert all(s[2:] == "rr" for s, _ in program if "y" in s or set(s) == {"r"})  # never in a clearance
    assert sum(d for _, d in program) == pytest.approx(ip.cycle_s)

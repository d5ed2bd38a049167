"""Corridor coordination: CP-SAT equals exhaustive search on tiny instances; links from the net."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.corridor import (
    CorridorLink,
    CorridorOptions,
    OffsetProblem,
    build_problem,
    coordinated_phases,
    optimize_corridor,
    platoon_delay_table,
    solve_cpsat,
    solve_exhaustive,
    solve_greedy,
)
from optimizer.corridor_network import find_links
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import validate
from optimizer.webster import IntersectionBounds


def corridor_demand(models: dict[str, IntersectionModel], seed: int) -> DemandEstimate:
    rng = np.random.default_rng(seed)
    flows = {}
    for tls_id, model in models.items():
        flows[tls_id] = {
            m.id: float(rng.uniform(400, 900) if m.turn == "through" and not m.approach.startswith(("N", "S")) else rng.uniform(30, 200))
            for m in model.movements
        }
    return DemandEstimate(flows)


def problem(models: dict[str, IntersectionModel], links: tuple[CorridorLink, ...], seed: int, cycle_s: int = 60) -> OffsetProblem:
    d = corridor_demand(models, seed)
    coordinated = coordinated_phases(models, d, links)
    return build_problem(models, d, links, cycle_s, coordinated, IntersectionBounds(), CorridorOptions())


def test_platoon_table_prefers_arrival_at_green_start() -> None:
    table = platoon_delay_table(60, 10.0, 30.0)
    assert int(np.argmin(table)) == 0
    assert table[0] == pytest.approx(-(60 - 30) ** 2 / 120)  # no wait, minus the random-arrival delay
    assert table[35] > 0  # arriving in red is worse than random


def test_links_follow_the_arterial(corridor_models: dict[str, IntersectionModel], net_file: Path) -> None:
    links = find_links(net_file, corridor_models)
    pairs = {(l.upstream, l.downstream) for l in links}
    assert pairs == {("J0", "J1"), ("J1", "J0"), ("J1", "J2"), ("J2", "J1")}
    travel = {l.travel_time_s for l in links}
    assert all(abs(t - 300.0 / (50 / 3.6)) < 2.0 for t in travel)  # spacing / speed, less the junction


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cpsat_matches_exhaustive_on_a_chain(corridor_models: dict[str, IntersectionModel], net_file: Path, seed: int) -> None:
    pr = problem(corridor_models, find_links(net_file, corridor_models), seed)
    exact = solve_exhaustive(pr)
    found = solve_cpsat(pr, time_limit_s=5.0, deterministic=True)  # work, not wall time: the same answer on a busy machine
    assert found.status == "OPTIMAL"
    assert found.cost == pytest.approx(exact.cost, abs=0.5 * (len(pr.links) + 3))
    assert solve_greedy(pr).cost >= exact.cost - 1e-6


def test_cpsat_matches_exhaustive_on_a_loop(corridor_models: dict[str, IntersectionModel], net_file: Path) -> None:
    # Close the chain into a triangle: offsets around the loop must agree (MAXBAND loop condition).
    links = find_links(net_file, corridor_models)
    loop = (*links,
            CorridorLink("J2", "J0", 33.0, 450.0, exit_edge="J2_J1.up", approach="J1_J0"),
            CorridorLink("J0", "J2", 27.0, 380.0, exit_edge="J0_J1.up", approach="J1_J2"))
    pr = problem(corridor_models, loop, seed=4)
    assert len(pr.links) == 6
    exact = solve_exhaustive(pr)
    found = solve_cpsat(pr, time_limit_s=5.0, deterministic=True)  # work, not wall time: the same answer on a busy machine
    assert found.cost == pytest.approx(exact.cost, abs=0.5 * (len(pr.links) + 3))


def test_optimize_corridor_gives_a_valid_common_cycle_plan(corridor_models: dict[str, IntersectionModel], net_file: Path) -> None:
    links = find_links(net_file, corridor_models)
    plan = optimize_corridor(corridor_models, corridor_demand(corridor_models, 5), links, time_limit_s=2.0)
    validate(plan, corridor_models)
    assert len({ip.cycle_s for ip in plan.intersections.values()}) == 1
    assert plan.objective["progression_veh_h_per_h"] < 0  # coordination beats random arrivals
    assert all(ip.coordinated_phase == 0 for ip in plan.intersections.values())


def test_tiny_time_limit_still_returns_a_plan(corridor_models: dict[str, IntersectionModel], net_file: Path) -> None:
    links = find_links(net_file, corridor_models)
    plan = optimize_corridor(corridor_models, corridor_demand(corridor_models, 6), links, time_limit_s=0.01)
    validate(plan, corridor_models)


def test_no_links_means_independent_lights_at_a_common_cycle(corridor_models: dict[str, IntersectionModel]) -> None:
    plan = optimize_corridor(corridor_models, corridor_demand(corridor_models, 7), (), time_limit_s=1.0)
    validate(plan, corridor_models)
    assert len({ip.cycle_s for ip in plan.intersections.values()}) == 1


def _spin() -> None:
    while True:
        pass


def test_a_deterministic_budget_gives_the_same_plan_on_a_busy_machine(corridor_models: dict[str, IntersectionModel],
                                                                       net_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulations give CP-SAT deterministic time, not wall time: neither busy cores nor a
    clock that runs a minute per reading (a machine stalled between the candidate cycles)
    changes the plan."""
    import itertools
    import multiprocessing

    import optimizer.corridor as corridor

    links = find_links(net_file, corridor_models)
    demand = corridor_demand(corridor_models, 8)
    options = CorridorOptions(deterministic=True)
    quiet = optimize_corridor(corridor_models, demand, links, time_limit_s=0.5, options=options)
    busy = [multiprocessing.get_context("fork").Process(target=_spin, daemon=True) for _ in range(2)]
    for p in busy:
        p.start()
    try:
        ticks = itertools.count(step=60.0)
        monkeypatch.setattr(corridor.time, "perf_counter", lambda: next(ticks))
        loaded = optimize_corridor(corridor_models, demand, links, time_limit_s=0.5, options=options)
    finally:
        for p in busy:
            p.kill()
    assert loaded.intersections == quiet.intersections
    assert "FALLBACK" not in loaded.note and "FALLBACK" not in quiet.note
    # the same stalled clock starves a wall-clock budget down to its floor
    stalled = optimize_corridor(corridor_models, demand, links, time_limit_s=0.5)
    assert stalled.objective["solve_s"] > 60.0

"""The SUMO gate: the switching rule, offset alignment, and gate runs that switch, keep and fail closed."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from controllers.gate import SAME_PLAN, GateConfig, PlanGate, decide, shifted_plan
from optimizer.demand import DemandEstimate
from optimizer.demand_routes import demand_from_routes
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from optimizer.webster import build_plan
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections

# --- the decision rule (pure) ------------------------------------------------------------


def test_clear_improvement_switches() -> None:
    d = decide([100.0, 110.0, 95.0, 105.0], [80.0, 85.0, 78.0, 84.0], [900] * 4, [905] * 4)
    assert d.switch and d.improvement == pytest.approx(np.mean([0.2, 25 / 110, 17 / 95, 0.2]))
    assert d.p_value < 0.01 and "lowers delay" in d.reason


def test_equal_or_noisy_results_keep_the_plan() -> None:
    assert not decide([90.0] * 3, [90.0] * 3, [800] * 3, [800] * 3).switch
    noisy = decide([100.0, 90.0, 110.0, 95.0], [80.0, 100.0, 104.0, 99.0], [800] * 4, [800] * 4)
    assert not noisy.switch  # a 4 % mean cut, but one seed is much worse: not significant
    assert "not significant" in noisy.reason or "tied" in noisy.reason


def test_small_improvement_below_margin_keeps_the_plan() -> None:
    d = decide([100.0, 100.0, 100.0], [98.0, 98.5, 97.9], [800] * 3, [800] * 3)
    assert not d.switch and 0 < d.improvement < 0.03


def test_zero_variance_falls_back_to_every_seed_improving() -> None:
    d = decide([100.0, 100.0], [90.0, 90.0], [800, 800], [800, 800])
    assert d.switch and d.p_value == 0.0
    one_seed = decide([100.0], [90.0], [800], [800])
    assert one_seed.switch


def test_tied_delay_but_more_throughput_switches() -> None:
    d = decide([100.0, 101.0, 99.0], [100.0, 100.0, 100.0], [800, 810, 790], [850, 861, 836])
    assert d.switch and "throughput" in d.reason
    worse = decide([100.0, 101.0, 99.0], [100.0, 100.0, 100.0], [800, 810, 790], [790, 805, 785])
    assert not worse.switch


def test_unusable_results_keep_the_plan() -> None:
    assert not decide([], [], [], []).switch
    assert not decide([100.0, float("nan")], [50.0, 50.0], [1, 1], [1, 1]).switch


def test_shifted_plan_keeps_the_phase_position(corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]) -> None:
    _, models, _ = corridor
    plan = fixed(models, [34.0, 10.0, 33.0], offset_s=20.0)
    moved = shifted_plan(plan, now_s=1000.0)
    for tls, ip in moved.intersections.items():
        # Coordinated green starts at real time t = 20 (mod 90); in the twin t' = t - 1000.
        assert ip.offset_s == pytest.approx((20.0 - 1000.0) % ip.cycle_s)
        assert (ip.offset_s + 1000.0 - plan.intersections[tls].offset_s) % ip.cycle_s == pytest.approx(0.0)


# --- gate runs in SUMO -------------------------------------------------------------------


def fixed(models: dict[str, IntersectionModel], greens_s: list[float], offset_s: float = 0.0, name: str = "fixed") -> TimingPlan:
    return TimingPlan({t: build_plan(m, np.array(greens_s), offset_s, 0) for t, m in models.items()}, name)


@pytest.fixture(scope="module")
def corridor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, IntersectionModel], DemandEstimate]:
    scenario = build_corridor(CorridorSpec(intersections=2, demand="high"), seed=1, out_dir=tmp_path_factory.mktemp("gate"))
    models = load_intersections(scenario.net_file)
    return scenario.net_file, models, demand_from_routes(models, scenario.route_files, 0.0, 900.0)


@pytest.fixture(scope="module")
def gate(corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]) -> Iterator[PlanGate]:
    net_file, models, _ = corridor
    with PlanGate(net_file, models, GateConfig(horizon_s=300.0, seeds=3, timeout_s=60.0)) as g:
        yield g


def test_gate_switches_away_from_a_starved_main_road(
    gate: PlanGate, corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate], caplog: pytest.LogCaptureFixture
) -> None:
    _, models, demand = corridor
    starved = fixed(models, [5.0, 10.0, 60.0], name="starved")  # arterial through gets 5 s
    balanced = fixed(models, [34.0, 10.0, 33.0], name="balanced")
    with caplog.at_level(logging.INFO, logger="controllers.gate"):
        decision = gate.evaluate(starved, balanced, demand, {"W_J0_1": 8.0}, now_s=450.0)
    assert decision.switch, decision.reason
    assert len(decision.delay_current_s) == 3 and min(decision.delay_current_s) > max(decision.delay_candidate_s)
    assert decision.improvement > 0.1 and decision.p_value <= 0.1
    assert gate.decisions[-1] == decision
    assert "SWITCH" in caplog.text and "delay s/veh current" in caplog.text
    # The other way round the gate keeps the running plan.
    assert not gate.evaluate(balanced, starved, demand, {}, now_s=450.0).switch


def test_gate_keeps_an_equal_plan(gate: PlanGate, corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]) -> None:
    _, models, demand = corridor
    plan = fixed(models, [34.0, 10.0, 33.0])
    decision = gate.evaluate(plan, dataclasses.replace(plan, created_by="again"), demand, {})
    assert not decision.switch and decision.reason == SAME_PLAN


def test_gate_fails_closed_on_an_invalid_candidate(
    gate: PlanGate, corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]
) -> None:
    _, models, demand = corridor
    broken = fixed(models, [2.0, 10.0, 33.0])  # 2 s green, below the 5 s minimum
    decision = gate.evaluate(fixed(models, [34.0, 10.0, 33.0]), broken, demand, {})
    assert not decision.switch and "candidate plan invalid" in decision.reason and "below its minimum" in decision.reason


def test_gate_fails_closed_on_a_twin_error(gate: PlanGate, corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]) -> None:
    _, models, demand = corridor
    decision = gate.evaluate(fixed(models, [34.0, 10.0, 33.0]), fixed(models, [40.0, 10.0, 27.0]), demand, {"nowhere_0": 3.0})
    assert not decision.switch and "failed closed" in decision.reason and "nowhere_0" in decision.reason


def test_gate_fails_closed_on_timeout_recovers_and_closes(corridor: tuple[Path, dict[str, IntersectionModel], DemandEstimate]) -> None:
    net_file, models, demand = corridor
    with PlanGate(net_file, models, GateConfig(horizon_s=300.0, seeds=2, timeout_s=0.05)) as gate:
        decision = gate.evaluate(fixed(models, [5.0, 10.0, 60.0]), fixed(models, [34.0, 10.0, 33.0]), demand, {})
        assert not decision.switch and "timed out" in decision.reason
        # The killed pool is replaced: with time enough the next evaluation simulates again.
        gate.config = dataclasses.replace(gate.config, timeout_s=60.0)
        again = gate.evaluate(fixed(models, [5.0, 10.0, 60.0]), fixed(models, [34.0, 10.0, 33.0]), demand, {})
        assert again.switch and len(again.delay_candidate_s) == 2
    assert gate.closed
    after = gate.evaluate(fixed(models, [5.0, 10.0, 60.0]), fixed(models, [34.0, 10.0, 33.0]), demand, {})
    assert not after.switch and after.reason == "gate is closed"

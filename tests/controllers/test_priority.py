"""Emergency preemption: the policy's decisions (pure), then in SUMO against preemption off."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from controllers.adaptive import AdaptiveConfig, AdaptiveController
from controllers.backend import PhaseCommand, SignalStatus
from controllers.priority import vehicle_phase
from counting.camera_frame import PriorityCall
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.runner import RunJob, run_many
from tests.controllers.test_adaptive_policy import (
    cross_model,
    frame,
    phase_commands,
    policy,
)


def ambulance(distance_m: float, approach: str = "e", vid: str = "amb.0") -> PriorityCall:
    return PriorityCall("X", approach, 0, distance_m, "emergency", vid)


def test_the_emergency_vehicles_phase_comes_next_after_min_green_and_is_held_until_it_crossed() -> None:
    pol = policy()
    # phase 0 (n) has a long queue and would keep its green; an ambulance approaches on e
    busy = {"n": frame("n", 3.0, stopped=8, green=True, arrival_s=1.0), "e": frame("e", 3.0)}
    early = {"X": SignalStatus("X", phase=0, green_s=3.0)}
    assert phase_commands(pol.step(3.0, 1.0, busy, early, [ambulance(250.0)])) == [PhaseCommand("X", "hold", 0)]  # min green 5 s
    status = {"X": SignalStatus("X", phase=0, green_s=5.0)}
    assert phase_commands(pol.step(5.0, 1.0, busy, status, [ambulance(230.0)])) == [PhaseCommand("X", "serve_next", 1)]
    # e is green now and nobody else waits there: without the ambulance it would go back to n
    served = {"X": SignalStatus("X", phase=1, green_s=70.0)}  # past e's max green (60 s)
    assert phase_commands(pol.step(80.0, 1.0, busy, served, [ambulance(20.0)])) == [PhaseCommand("X", "hold", 1)]
    # it has crossed: the policy is itself again
    assert phase_commands(pol.step(81.0, 1.0, busy, served, [])) == [PhaseCommand("X", "serve_next", 0)]
    report = pol.report().as_dict()
    assert report["preemptions"] == 1
    event = report["preemption_events"][0]
    assert (event["tls_id"], event["vehicle_id"], event["start_s"], event["green_s"], event["end_s"]) == \
        ("X", "amb.0", 3.0, 80.0, 81.0)


def test_preemption_off_ignores_the_call_and_buses_do_not_preempt() -> None:
    busy = {"n": frame("n", 10.0, stopped=8, green=True, arrival_s=1.0), "e": frame("e", 10.0)}
    status = {"X": SignalStatus("X", phase=0, green_s=10.0)}
    off = policy(AdaptiveConfig(use_gate=False, preemption=False))
    assert phase_commands(off.step(10.0, 1.0, busy, status, [ambulance(100.0)])) == [PhaseCommand("X", "hold", 0)]
    bus = PriorityCall("X", "e", 0, 100.0, "bus", "bus.0")
    assert phase_commands(policy().step(10.0, 1.0, busy, status, [bus])) == [PhaseCommand("X", "hold", 0)]


def test_the_vehicles_phase_is_the_one_that_protects_its_lane() -> None:
    model = cross_model()
    assert vehicle_phase(model, "n", "n_0") == 0 and vehicle_phase(model, "e", None) == 1


def test_in_sumo_emergency_vehicles_lose_far_less_than_cars_with_preemption(tmp_path: Path) -> None:
    spec = CorridorSpec(intersections=2, demand="high", duration_s=900.0, emergency_per_h=40.0)
    scenario = build_corridor(spec, 1, tmp_path)
    jobs = [RunJob(scenario, 1, partial(AdaptiveController, AdaptiveConfig(use_gate=False, preemption=on)),
                   label=str(on)) for on in (True, False)]
    on, off = run_many(jobs, workers=2)
    em_on, em_off = on.metrics.by_vclass["emergency"], off.metrics.by_vclass["emergency"]
    car_on = on.metrics.by_vclass["passenger"].delay_s_per_vehicle
    assert em_on.vehicles == em_off.vehicles >= 5
    assert on.extra["preemptions"] >= em_on.vehicles  # each crosses at least one signal
    assert em_on.delay_s_per_vehicle < 0.4 * car_on, (em_on, car_on)
    assert em_on.delay_s_per_vehicle < 0.6 * em_off.delay_s_per_vehicle, (em_on, em_off)
    assert on.extra["safety_refusals"] == []  # every command passed the safety layer (clearances, min green)


def bus(distance_m: float, approach: str = "e", vid: str = "bus.0") -> PriorityCall:
    return PriorityCall("X", approach, 0, distance_m, "bus", vid)


def test_a_bus_gets_a_bounded_extension_then_not_again_within_a_cycle() -> None:
    pol = policy(AdaptiveConfig(use_gate=False, transit_priority=True, transit_max_s=10.0))
    empty_e = {"n": frame("n", 0.0, stopped=6), "e": frame("e", 0.0, green=True)}
    commands = []
    for t in range(20, 40):  # e is green, nobody left on it: the policy would serve n now
        status = {"X": SignalStatus("X", phase=1, green_s=float(t))}
        commands.append(phase_commands(pol.step(float(t), 1.0, empty_e, status, [bus(5.0)]))[0].kind)
    assert commands[:10] == ["hold"] * 10 and commands[10] == "serve_next"  # 10 s at most
    grants = pol.report().as_dict()["transit_grants"]
    assert len(grants) == 1 and grants[0]["kind"] == "extension" and grants[0]["seconds"] == 10.0
    # the bus crossed; another on the same approach a moment later is not favoured (cycle 70 s)
    pol.step(40.0, 1.0, empty_e, {"X": SignalStatus("X", phase=1, green_s=40.0)}, [])
    status = {"X": SignalStatus("X", phase=1, green_s=41.0)}
    assert phase_commands(pol.step(41.0, 1.0, empty_e, status, [bus(30.0, vid="bus.1")]))[0].kind == "serve_next"


def test_a_bus_far_away_gets_no_extension_and_a_busy_green_is_cut_only_within_bounds() -> None:
    pol = policy(AdaptiveConfig(use_gate=False, transit_priority=True))
    empty_e = {"n": frame("n", 0.0, stopped=6), "e": frame("e", 0.0, green=True)}
    status = {"X": SignalStatus("X", phase=1, green_s=20.0)}
    assert phase_commands(pol.step(20.0, 1.0, empty_e, status, [bus(250.0)]))[0].kind == "serve_next"  # 250 m: 21 s away
    assert pol.report().as_dict()["transit_grants"] == []
    # n is green and still discharging: its plan green is 30 s and it may run to 48 s (30 x 1.6);
    # a bus on e does not cut it before its plan green, nor while it could run over 10 s more
    busy_n = {"n": frame("n", 0.0, stopped=6, green=True, arrival_s=1.0), "e": frame("e", 0.0)}
    pol = policy(AdaptiveConfig(use_gate=False, transit_priority=True))
    for t in (15.0, 25.0, 30.0, 37.0):
        status = {"X": SignalStatus("X", phase=0, green_s=t)}
        assert phase_commands(pol.step(t, 1.0, busy_n, status, [bus(150.0)])) == [PhaseCommand("X", "hold", 0)]
    assert pol.report().as_dict()["transit_grants"] == []
    status = {"X": SignalStatus("X", phase=0, green_s=38.0)}
    assert phase_commands(pol.step(38.0, 1.0, busy_n, status, [bus(150.0)])) == [PhaseCommand("X", "serve_next", 1)]
    (grant,) = pol.report().as_dict()["transit_grants"]
    assert grant["kind"] == "truncation" and grant["seconds"] == 10.0
    # without a bus the same green is held to its end
    pol = policy(AdaptiveConfig(use_gate=False, transit_priority=True))
    status = {"X": SignalStatus("X", phase=0, green_s=38.0)}
    assert phase_commands(pol.step(38.0, 1.0, busy_n, status, [])) == [PhaseCommand("X", "hold", 0)]
    # once n has nothing left and ends, the bus's phase is next (early green: a reorder, no seconds moved)
    done_n = {"n": frame("n", 0.0, green=True), "e": frame("e", 0.0, stopped=2)}
    status = {"X": SignalStatus("X", phase=0, green_s=26.0)}
    assert phase_commands(pol.step(26.0, 1.0, done_n, status, [bus(100.0)])) == [PhaseCommand("X", "serve_next", 1)]
    (grant,) = pol.report().as_dict()["transit_grants"]
    assert grant["kind"] == "early" and grant["seconds"] == 0.0

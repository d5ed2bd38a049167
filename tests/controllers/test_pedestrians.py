"""Pedestrians in the adaptive policy: calls, walk kept, no wait past the maximum (pure), then in
SUMO on the corridor with crosswalks against the same controller with pedestrian handling off."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

from controllers.adaptive import AdaptiveConfig, AdaptiveController
from controllers.adaptive_policy import AdaptivePolicy
from controllers.backend import PhaseCommand, SignalStatus
from counting.camera_frame import PedestrianCall
from optimizer.intersection import Crossing, IntersectionModel
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import RunJob, run_many
from tests.controllers.test_adaptive_policy import (
    LAYOUTS,
    cross_model,
    frame,
    phase_commands,
)


def crossing_model() -> IntersectionModel:
    """``cross_model`` with a crossing beside each street: 2 walks with n (phase 0), 3 with e
    (phase 1); 6.4 m each, so walk + clearance = 7 + 6 = 13 s."""
    base = cross_model()
    phases = tuple(replace(p, state=p.state + extra) for p, extra in zip(base.phases, ("Gr", "rG")))
    return replace(base, phases=phases, crossings=(Crossing(2, ":X_c0", 6.4), Crossing(3, ":X_c1", 6.4)))


NO_GATE = AdaptiveConfig(use_gate=False)


def ped_policy(config: AdaptiveConfig = NO_GATE) -> AdaptivePolicy:
    return AdaptivePolicy({"X": crossing_model()}, LAYOUTS, start_s=0.0, config=config)


def person(crossing: int, wait_s: float, waiting: int = 1) -> PedestrianCall:
    return PedestrianCall("X", crossing, waiting, wait_s)


BUSY_N = {"n": frame("n", 0.0, stopped=4, moving=2, green=True, arrival_s=1.0), "e": frame("e", 0.0)}


def test_a_waiting_person_calls_the_crossings_phase_and_is_served_before_the_maximum_wait() -> None:
    pol = ped_policy()
    status = {"X": SignalStatus("X", phase=0, green_s=20.0)}
    # n still discharges: hold it, and call the walk for e's phase (crossing 3)
    assert phase_commands(pol.step(20.0, 1.0, BUSY_N, status, pedestrians=[person(3, 30.0)])) == [
        PhaseCommand("X", "hold", 0), PhaseCommand("X", "ped_call", 1)]
    # the person has waited 104 s: 104 + clearance 5 s + 1 s step + 10 s margin reach 120 s
    commands = phase_commands(pol.step(21.0, 1.0, BUSY_N, {"X": SignalStatus("X", phase=0, green_s=21.0)},
                                       pedestrians=[person(3, 104.0)]))
    assert PhaseCommand("X", "serve_next", 1) in commands
    # handling off: no call, and n keeps its green
    off = ped_policy(AdaptiveConfig(use_gate=False, pedestrians=False))
    assert phase_commands(off.step(21.0, 1.0, BUSY_N, status, pedestrians=[person(3, 104.0)])) == [
        PhaseCommand("X", "hold", 0)]


def test_a_shown_walk_keeps_its_green_through_walk_and_clearance() -> None:
    pol = ped_policy()
    e_waits = {"n": frame("n", 0.0, green=True), "e": frame("e", 0.0, stopped=5)}
    walking = {"X": SignalStatus("X", phase=0, green_s=10.0, walk_started_s=0.0)}
    assert phase_commands(pol.step(10.0, 1.0, e_waits, walking)) == [PhaseCommand("X", "hold", 0)]  # 13 s needed
    done = {"X": SignalStatus("X", phase=0, green_s=13.0, walk_started_s=0.0)}
    assert phase_commands(pol.step(13.0, 1.0, e_waits, done)) == [PhaseCommand("X", "serve_next", 1)]
    no_walk = {"X": SignalStatus("X", phase=0, green_s=10.0)}
    assert phase_commands(ped_policy().step(10.0, 1.0, e_waits, no_walk)) == [PhaseCommand("X", "serve_next", 1)]


def test_in_sumo_nobody_waits_past_the_maximum_and_no_command_is_refused(tmp_path: Path) -> None:
    spec = CorridorSpec(intersections=2, demand="high", duration_s=600.0, pedestrians=900.0)
    scenario = build_corridor(spec, 1, tmp_path)
    model = load_intersections(scenario.net_file)["J0"]
    # netconvert's walk and pedestrian-clearance phases are one phase each: through, left, through
    assert len(model.phases) == 3 and len(model.crossings) >= 4
    assert all(c.length_m > 3.0 and c.waiting_areas for c in model.crossings)
    jobs = [RunJob(scenario, 1, partial(AdaptiveController, AdaptiveConfig(use_gate=False, pedestrians=on)),
                   label=str(on)) for on in (True, False)]
    on, off = run_many(jobs, workers=2)
    ped_on, ped_off = on.metrics.by_vclass["pedestrian"], off.metrics.by_vclass["pedestrian"]
    assert ped_on.vehicles == ped_off.vehicles >= 100
    assert ped_on.longest_wait_s is not None and ped_on.longest_wait_s <= 120.0, ped_on
    assert on.extra["safety_refusals"] == [] and off.extra["safety_refusals"] == []
    # walks only when someone waits, against every green of a crossing's phase without detection
    assert 0 < on.extra["pedestrian_walks"] < off.extra["pedestrian_walks"]


def test_optimize_gives_every_green_that_shows_a_walk_its_walk_and_clearance(tmp_path: Path) -> None:
    """``phasewise optimize`` on a corridor with crosswalks and little traffic: the side
    streets' greens, which their cars alone would keep near the minimum, carry walk +
    clearance across the arterial (7 s + length / 1.07 m/s)."""
    spec = "corridor:demand=low,pedestrians=600,intersections=2"
    out = tmp_path / "plan"
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "optimize", "--scenario", spec, "--no-check",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    models = load_intersections(build_corridor(CorridorSpec.parse(spec), 1, tmp_path / "net").net_file)
    binding = 0
    for plan in json.loads((out / "plan.json").read_text())["intersections"]:
        model = models[plan["tls_id"]]
        for timing in plan["phases"]:
            need = model.pedestrian_time_s(timing["phase"])
            assert timing["green_s"] >= need - 1e-6
            binding += int(need > model.phases[timing["phase"]].min_green_s and timing["green_s"] <= need + 0.5)
    assert binding >= 2  # without the reservation these greens would be shorter than their walk

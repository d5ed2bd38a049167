"""The adaptive policy as a pure function of (time, frames, signal status): no SUMO, no clock."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from controllers.backend import PhaseCommand, PlanCommand, SignalStatus
from controllers.gate import GateDecision
from controllers.tactical import LaneObservation, decide
from counting.camera_frame import CameraFrame, CameraLayout
from optimizer.corridor import CorridorLink
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
from optimizer.plan import TimingPlan


def cross_model() -> IntersectionModel:
    """Two one-lane approaches ``n`` and ``e`` crossing; phase 0 serves n, phase 1 serves e."""
    links = (SignalLink(0, "n_0", "s_0", "n", "through"), SignalLink(1, "e_0", "w_0", "e", "through"))
    movements = (Movement("n:through", "n", "through", (0,), ("n_0",), ("s",)),
                 Movement("e:through", "e", "through", (1,), ("e_0",), ("w",)))
    phases = (Phase(0, "Gr", 30.0, 5.0, 60.0), Phase(1, "rG", 30.0, 5.0, 60.0))
    return IntersectionModel("X", links, movements, phases, yellow_s=3.0, all_red_s=2.0, program_cycle_s=70.0)


LAYOUTS = {
    "n": CameraLayout("n", ("n_0",), ("n:through",), ((True,),)),
    "e": CameraLayout("e", ("e_0",), ("e:through",), ((True,),)),
}


def frame(camera: str, t: float, stopped: int = 0, moving: int = 0, green: bool = False, arrival_s: float = np.inf,
          head_stopped: bool = False, ok: bool = True) -> CameraFrame:
    return CameraFrame(t, camera, ok, np.array([stopped + moving]), np.array([stopped]), np.array([7.0 * stopped]),
                       np.array([green]), arrival_s=np.array([arrival_s]), head_stopped=np.array([head_stopped]))


def policy(config: AdaptiveConfig = AdaptiveConfig(use_gate=False), evaluator: object = None) -> AdaptivePolicy:
    return AdaptivePolicy({"X": cross_model()}, LAYOUTS, start_s=0.0, config=config, evaluator=evaluator)  # type: ignore[arg-type]


def phase_commands(commands: list) -> list[PhaseCommand]:
    return [c for c in commands if isinstance(c, PhaseCommand)]


def test_holds_a_green_that_still_serves_and_serves_the_waiting_phase_once_it_gaps_out() -> None:
    pol = policy()
    status = {"X": SignalStatus("X", phase=0, green_s=10.0)}
    # n has a vehicle due at the stop line within the gap; e has 4 waiting
    busy = {"n": frame("n", 10.0, moving=1, green=True, arrival_s=1.5), "e": frame("e", 10.0, stopped=4)}
    assert phase_commands(pol.step(10.0, 1.0, busy, status)) == [PhaseCommand("X", "hold", 0)]
    # n is empty now: the policy ends its green and serves e next
    empty = {"n": frame("n", 11.0, green=True), "e": frame("e", 11.0, stopped=4)}
    status = {"X": SignalStatus("X", phase=0, green_s=11.0)}
    assert phase_commands(pol.step(11.0, 1.0, empty, status)) == [PhaseCommand("X", "serve_next", 1)]


def test_never_ends_a_green_before_its_minimum() -> None:
    pol = policy()
    frames = {"n": frame("n", 1.0, green=True), "e": frame("e", 1.0, stopped=10)}
    status = {"X": SignalStatus("X", phase=0, green_s=2.0)}  # min green is 5 s
    assert phase_commands(pol.step(1.0, 1.0, frames, status)) == [PhaseCommand("X", "hold", 0)]


def test_rests_in_the_current_phase_when_nobody_waits_and_sends_nothing_during_a_clearance() -> None:
    pol = policy()
    frames = {"n": frame("n", 20.0, green=True), "e": frame("e", 20.0)}
    assert phase_commands(pol.step(20.0, 1.0, frames, {"X": SignalStatus("X", 0, 20.0)})) == [
        PhaseCommand("X", "hold", 0)]
    clearing = {"X": SignalStatus("X", phase=0, green_s=20.0, next_phase=1)}
    assert phase_commands(pol.step(21.0, 1.0, frames, clearing)) == []


def test_the_waiting_weight_grows_with_the_step_length_given() -> None:
    pol = policy()
    frames = {"n": frame("n", 2.0, green=True), "e": frame("e", 2.0)}
    pol.step(2.0, 2.5, frames, {"X": SignalStatus("X", 0, 10.0)})
    pol.step(4.5, 2.5, frames, {"X": SignalStatus("X", 0, 12.5)})
    assert pol.nodes["X"].waiting_s.tolist() == [0.0, 5.0]


class _Gate:
    def __init__(self, switch: bool) -> None:
        self.switch = switch
        self.calls = 0
        self.closed = False

    def evaluate(self, current: TimingPlan, candidate: TimingPlan, demand: DemandEstimate,
                 queues_veh: Mapping[str, float], now_s: float = 0.0) -> GateDecision:
        self.calls += 1
        return GateDecision(self.switch, "test")

    def close(self) -> None:
        self.closed = True


def run_until_replan(pol: AdaptivePolicy) -> list:
    out: list = []
    for t in range(1, 302):
        frames = {"n": frame("n", float(t), moving=1, green=True, arrival_s=1.0), "e": frame("e", float(t), stopped=2)}
        out += pol.step(float(t), 1.0, frames, {"X": SignalStatus("X", 0, float(t) % 50)})
    return out


def test_a_plan_goes_out_only_when_the_evaluator_accepts_it() -> None:
    config = AdaptiveConfig(replan_s=300.0)
    accepting, refusing = _Gate(True), _Gate(False)
    accepted = [c for c in run_until_replan(policy(config, accepting)) if isinstance(c, PlanCommand)]
    p = policy(config, refusing)
    refused = [c for c in run_until_replan(p) if isinstance(c, PlanCommand)]
    assert accepting.calls == 1 and len(accepted) == 1 and accepted[0].plan.created_by == "adaptive/webster"
    assert refusing.calls == 1 and refused == []
    report = p.report().as_dict()
    assert report["plans_considered"] == 1 and report["plans_applied"] == 0
    assert report["gate_decisions"][0]["switch"] is False
    p.close()
    assert refusing.closed


def test_tactical_decide_skips_empty_phases_and_obeys_max_green() -> None:
    shares = np.eye(3)
    waiting = np.zeros(3)
    obs = LaneObservation(queue_veh=np.array([0.0, 0.0, 3.0]), moving_near_veh=np.array([1.0, 0.0, 0.0]),
                          moving_veh=np.array([1.0, 0.0, 0.0]))
    # phase 0 still serves: hold below max green; at max green switch to 2 (1 is empty: skipped)
    assert decide(shares, 0, 20.0, 5.0, 40.0, waiting, obs).hold
    at_max = decide(shares, 0, 40.0, 5.0, 40.0, waiting, obs)
    assert not at_max.hold and at_max.next_phase == 2
    # below min green it holds whatever waits
    assert decide(shares, 0, 3.0, 5.0, 40.0, waiting, obs).hold


def two_signals() -> tuple[dict[str, IntersectionModel], dict[str, CameraLayout], list[CorridorLink]]:
    """A: approach ``a`` straight on into ``ab`` (phase 0) and a side street ``s`` (phase 1);
    ``ab`` is 75 m (10 vehicles) long and the approach of B."""
    a_links = (SignalLink(0, "a_0", "ab_0", "a", "through"), SignalLink(1, "s_0", "s_out_0", "s", "through"))
    a_moves = (Movement("a:through", "a", "through", (0,), ("a_0",), ("ab",)),
               Movement("s:through", "s", "through", (1,), ("s_0",), ("s_out",)))
    a = IntersectionModel("A", a_links, a_moves, (Phase(0, "Gr", 30.0, 5.0, 60.0), Phase(1, "rG", 30.0, 5.0, 60.0)),
                          3.0, 2.0, 70.0)
    b = IntersectionModel("B", (SignalLink(0, "ab_0", "b_out_0", "ab", "through"),),
                          (Movement("ab:through", "ab", "through", (0,), ("ab_0",), ("b_out",)),),
                          (Phase(0, "G", 30.0, 5.0, 60.0),), 3.0, 2.0, 35.0)
    layouts = {cam: CameraLayout(cam, (f"{cam}_0",), (f"{cam}:through",), ((True,),)) for cam in ("a", "s", "ab")}
    return {"A": a, "B": b}, layouts, [CorridorLink("A", "B", 7.0, 75.0, exit_edge="ab", approach="ab")]


def test_no_green_into_a_full_exit_until_the_queue_there_moves() -> None:
    models, layouts, links = two_signals()
    pol = AdaptivePolicy(models, layouts, start_s=0.0, config=AdaptiveConfig(use_gate=False), links=links)
    status = {"A": SignalStatus("A", phase=1, green_s=20.0), "B": SignalStatus("B", phase=0, green_s=20.0)}

    def a_commands(t: float, queue_at_b: int) -> list[PhaseCommand]:
        frames = {"a": frame("a", t, stopped=5), "s": frame("s", t, green=True),
                  "ab": frame("ab", t, stopped=queue_at_b, green=False, head_stopped=True)}
        return [c for c in phase_commands(pol.step(t, 1.0, frames, status)) if c.tls_id == "A"]

    # 9 of 10 vehicles' room taken at B's stop line: a's 5 waiting vehicles are not released
    assert a_commands(1.0, queue_at_b=9) == [PhaseCommand("A", "hold", 1)]
    # B's queue moves up to 3: a goes next
    assert a_commands(2.0, queue_at_b=3) == [PhaseCommand("A", "serve_next", 0)]


def test_a_movement_that_stands_through_its_green_is_a_counted_gridlock_and_runs_its_plan_green() -> None:
    pol = policy(AdaptiveConfig(use_gate=False, gridlock_after_s=30.0))
    commands: list[PhaseCommand] = []
    for t in range(1, 41):  # n stands at the line through 40 s of green, nothing crosses; e waits
        frames = {"n": frame("n", float(t), stopped=6, green=True, head_stopped=True),
                  "e": frame("e", float(t), stopped=3)}
        commands = phase_commands(pol.step(float(t), 1.0, frames, {"X": SignalStatus("X", 0, 10.0)}))
    report = pol.report()
    assert report.gridlocks == 1 and report.as_dict()["gridlocks"] == 1
    assert report.gridlock_events[0].members == ("X",) and report.gridlock_events[0].end_s is None
    # locked: the phase keeps its plan green (30 s) instead of flipping after its 5 s minimum
    assert commands == [PhaseCommand("X", "hold", 0)]


def three_approaches() -> IntersectionModel:
    """``cross_model`` with a third one-lane approach ``w`` served by phase 2 alone."""
    links = (SignalLink(0, "n_0", "s_0", "n", "through"), SignalLink(1, "e_0", "w_0", "e", "through"),
             SignalLink(2, "w_0", "e_0", "w", "through"))
    movements = (Movement("n:through", "n", "through", (0,), ("n_0",), ("s",)),
                 Movement("e:through", "e", "through", (1,), ("e_0",), ("w",)),
                 Movement("w:through", "w", "through", (2,), ("w_0",), ("e",)))
    phases = (Phase(0, "Grr", 30.0, 5.0, 60.0), Phase(1, "rGr", 30.0, 5.0, 60.0), Phase(2, "rrG", 20.0, 5.0, 60.0))
    return IntersectionModel("X", links, movements, phases, yellow_s=3.0, all_red_s=2.0, program_cycle_s=95.0)


def run_signal(pol: AdaptivePolicy, frames_at, seconds: int) -> list[tuple[int, float]]:
    """Step ``pol`` against a signal that switches at once; the (phase, green s) of every green."""
    phase, green_s, served = 0, 0.0, []
    for t in range(1, seconds + 1):
        green_s += 1.0
        for c in phase_commands(pol.step(float(t), 1.0, frames_at(float(t), phase), {"X": SignalStatus("X", phase, green_s)})):
            if c.kind == "serve_next":
                served.append((phase, green_s))
                phase, green_s = c.phase, 0.0
    return served


def test_an_approach_without_a_camera_is_on_recall_and_runs_its_plan_green() -> None:
    pol = AdaptivePolicy({"X": three_approaches()}, LAYOUTS, start_s=0.0, config=AdaptiveConfig(use_gate=False))
    assert pol.unwatched == {"X": ("w",)} and pol.nodes["X"].recall.tolist() == [False, False, True]

    def quiet(t: float, phase: int) -> dict:  # nobody seen anywhere
        return {"n": frame("n", t, green=phase == 0), "e": frame("e", t, green=phase == 1)}

    # nobody seen waiting: the controller does not rest on n, it serves w for w's plan green (20 s)
    served = run_signal(pol, quiet, 40)
    assert served == [(0, 5.0)] and pol.nodes["X"].waiting_s[2] == 0.0  # then it rests on w
    pol2 = AdaptivePolicy({"X": three_approaches()}, LAYOUTS, start_s=0.0, config=AdaptiveConfig(use_gate=False))

    def busy(t: float, phase: int) -> dict:  # n and e always have a queue and a vehicle due at the line
        return {cam: frame(cam, t, stopped=8, moving=2, green=phase == k, arrival_s=1.0)
                for k, cam in enumerate(("n", "e"))}

    served = run_signal(pol2, busy, 900)
    w_greens = [g for p, g in served if p == 2]
    # w is served every cycle (9 cycles of at most 60+60+20 s in 900 s) and each time for its plan green
    assert len(w_greens) >= 900 // (60 + 60 + 20) - 1 and all(g == 20.0 for g in w_greens), served
    # re-optimization keeps this intersection's running timing: w's demand is not measured
    request = pol2.replan_request(900.0)
    candidate = pol2.candidate_plan(request)
    assert candidate is not None and candidate.intersections["X"] == request.current.intersections["X"]


def test_with_every_approach_watched_nothing_is_on_recall() -> None:
    pol = policy()
    assert pol.unwatched == {} and not pol.nodes["X"].recall.any()

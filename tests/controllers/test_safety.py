"""The safety layer: refusals with known answers, and a property test that no unsafe command,
plan or signal state ever reaches a cabinet (checked by the cabinet-side conflict monitor).

Pedestrians (last part): walk (7 s) and flashing don't-walk (length / 1.07 m/s) are kept, and
no walk ever shows beside a conflicting or protected vehicle green, whatever the commands;
checked by the conflict monitor on the emulated NTCIP cabinet and on the SUMO signal head
behind the safety layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controllers.backend import COMMAND_KINDS, PhaseCommand, SignalStatus
from controllers.ntcip import oids
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.controls import control_masks
from controllers.ntcip.monitor import ConflictMonitor
from controllers.ntcip.pattern import pattern_values
from controllers.safety import MAX_CHANGE_PER_CYCLE, SafeBackend, limit_change
from controllers.signal_head import SignalHead
from controllers.sumo_backend import SumoBackend
from optimizer.intersection import (
    Crossing,
    IntersectionModel,
    Movement,
    Phase,
    SignalLink,
)
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan, validate
from phasewise_errors import ControllerError, PlanError

FOUR_PHASE = ["rGrGrrrr", "GgGgrrrr", "rrrrrGrG", "rrrrGgGg"]
TWO_PHASE = ["GGrr", "rrGG"]


def model_from_states(tls_id: str, states: list[str]) -> IntersectionModel:
    n = len(states[0])
    links = tuple(SignalLink(i, f"a{i}_0", f"o{i}_0", f"a{i}", "through") for i in range(n))
    movements = tuple(Movement(f"a{i}:through", f"a{i}", "through", (i,), (f"a{i}_0",), (f"o{i}",)) for i in range(n))
    phases = tuple(Phase(k, s, 20.0, 5.0, 40.0) for k, s in enumerate(states))
    return IntersectionModel(tls_id, links, movements, phases, 3.0, 1.0, 24.0 * len(states))


MODELS = {"four": model_from_states("four", FOUR_PHASE), "two": model_from_states("two", TWO_PHASE)}


class CabinetBackend:
    """A SignalBackend bound to in-process cabinets: the NTCIP objects without the wire, the
    same control masks (``ntcip.controls``) and patterns (``ntcip.pattern``) as ``NtcipBackend``."""

    def __init__(self, cabinets: Mapping[str, Cabinet]) -> None:
        self.cabinets = dict(cabinets)
        self.selected = {tls: oids.PATTERN_FREE for tls in cabinets}
        self.batches: list[tuple[dict[str, SignalStatus], list[PhaseCommand]]] = []
        self.plans: list[TimingPlan] = []

    def status(self) -> dict[str, SignalStatus]:
        out = {}
        for tls, cab in self.cabinets.items():
            clearing = cab.interval != "green"
            out[tls] = SignalStatus(tls, max(cab.stage, 0), cab.green_s, max(cab.next_stage, 0) if clearing else None,
                                    "engine" if cab.central else "local", walk_started_s=cab.walk_started_s)
        return out

    def command(self, commands: Sequence[PhaseCommand]) -> None:
        self.batches.append((self.status(), list(commands)))
        for tls, cab in self.cabinets.items():
            mine = [c for c in commands if c.tls_id == tls]
            for oid, mask in control_masks(cab.mapping, max(cab.stage, 0), mine, cab.mapping.phase_groups).items():
                found = oids.lookup(oid)
                assert found is not None
                cab.write(found[0].name, found[1], mask)
            cab.write("systemPatternControl", (), self.selected[tls])

    def apply(self, plan: TimingPlan) -> None:
        self.plans.append(plan)
        for tls, ip in plan.intersections.items():
            cab = self.cabinets[tls]
            number = 16 if self.selected[tls] == 15 else 15
            for oid, value in pattern_values(ip, cab.mapping, number, number).varbinds().items():
                found = oids.lookup(oid)
                assert found is not None
                cab.write(found[0].name, found[1], value)
            cab.write("systemPatternControl", (), number)
            self.selected[tls] = number

    def close(self) -> None:
        for cab in self.cabinets.values():
            cab.write("systemPatternControl", (), 0)


def make(tls: str) -> tuple[SafeBackend, CabinetBackend, Cabinet, ConflictMonitor]:
    cabinet = Cabinet.from_model(MODELS[tls], backup_time_s=0)
    inner = CabinetBackend({tls: cabinet})
    safe = SafeBackend(inner, {tls: MODELS[tls]}, mappings={tls: cabinet.mapping}, clock=lambda: cabinet.now_s)
    return safe, inner, cabinet, ConflictMonitor(cabinet.mapping)


def plan_for(model: IntersectionModel, greens: Sequence[float], offset_s: float = 0.0, ped_s: float = 0.0) -> TimingPlan:
    phases = tuple(PhaseTiming(k, g, 3.0, 1.0, 5.0, 40.0, ped_s) for k, g in enumerate(greens))
    cycle = sum(p.split_s for p in phases)
    ip = IntersectionPlan(model.tls_id, cycle, offset_s % cycle, phases, 0)
    return TimingPlan({model.tls_id: ip}, created_by="test")


# --- known answers -----------------------------------------------------------------------------
def test_serve_next_waits_for_min_green_and_pedestrian_clearance() -> None:
    safe, inner, cabinet, _ = make("two")
    for _ in range(3):
        cabinet.tick(1.0)
    safe.status()
    safe.command([PhaseCommand("two", "serve_next", 1)])
    assert inner.batches[-1][1] == [] and "needs 5 s" in str(safe.refusals[-1])
    safe.apply(plan_for(MODELS["two"], [20, 20], ped_s=12.0))
    for _ in range(8):
        cabinet.tick(1.0)
    assert safe.status()["two"].green_s >= 5
    safe.command([PhaseCommand("two", "serve_next", 1)])
    assert inner.batches[-1][1] == [] and "needs 12 s" in str(safe.refusals[-1])
    for _ in range(5):
        cabinet.tick(1.0)
    safe.status()
    safe.command([PhaseCommand("two", "serve_next", 1)])
    assert inner.batches[-1][1] == [PhaseCommand("two", "serve_next", 1)]


def test_conflicting_commands_are_dropped_and_strict_raises() -> None:
    safe, inner, cabinet, _ = make("four")
    for _ in range(10):
        cabinet.tick(1.0)
    assert safe.status()["four"].phase == 0
    safe.command([
        PhaseCommand("four", "hold", 2),          # not the green phase
        PhaseCommand("four", "serve_next", 1),
        PhaseCommand("four", "serve_next", 3),    # two targets
        PhaseCommand("four", "call", 3),
        PhaseCommand("four", "omit", 9),          # no such phase
    ])
    assert inner.batches[-1][1] == [PhaseCommand("four", "call", 3)]
    assert len(safe.refusals) == 4
    strict = SafeBackend(inner, MODELS, strict=True)
    strict.status()
    with pytest.raises(ControllerError, match="only the green phase"):
        strict.command([PhaseCommand("four", "hold", 2)])


def test_plans_are_validated_and_changes_bounded() -> None:
    safe, inner, cabinet, _ = make("two")
    model = MODELS["two"]
    with pytest.raises(PlanError, match="below its minimum"):
        safe.apply(plan_for(model, [2, 20]))
    safe.apply(plan_for(model, [20, 20]))  # 48 s cycle
    safe.apply(plan_for(model, [40, 40]))  # 88 s: reached in steps of at most 20 %
    cycles = [p.intersections["two"].cycle_s for p in inner.plans]
    assert cycles[:2] == [48.0, pytest.approx(48.0 * 1.2)]
    for _ in range(600):
        cabinet.tick(1.0)
        safe.status()
    cycles = [p.intersections["two"].cycle_s for p in inner.plans]
    assert all(b <= a * (1 + MAX_CHANGE_PER_CYCLE) + 1e-9 for a, b in zip(cycles, cycles[1:]))
    assert cycles[-1] == 88.0 and len(cycles) == 5  # 48 -> 57.6 -> 69.1 -> 82.9 -> 88
    with pytest.raises(PlanError, match="sequence"):
        base = plan_for(model, [20, 20]).intersections["two"]
        safe.apply(TimingPlan({"two": IntersectionPlan("two", 48, 0, tuple(reversed(base.phases)), 0)}, "test"))


def test_limit_change_stays_between_the_plans() -> None:
    model = MODELS["four"]
    a = plan_for(model, [10, 30, 10, 30]).intersections["four"]
    b = plan_for(model, [30, 10, 30, 10]).intersections["four"]
    step = limit_change(a, b, 0.2)
    validate(TimingPlan({"four": step}, "t"), {"four": model})
    assert all(abs(s.split_s - r.split_s) <= 0.2 * r.split_s + 1e-9 for s, r in zip(step.phases, a.phases))


# --- the property: nothing unsafe reaches the cabinet ----------------------------------------
KINDS = list(COMMAND_KINDS)
command_st = st.tuples(st.integers(0, 3), st.integers(0, 4))
plan_st = st.tuples(
    st.lists(st.floats(4.0, 42.0, allow_nan=False), min_size=4, max_size=4),
    st.floats(0.0, 200.0, allow_nan=False),
    st.floats(0.0, 8.0, allow_nan=False),
    st.integers(0, 10),  # 1: cycle off by 3 s, 2: reversed sequence, 3: drop a phase, 4: short yellow, 5: bad coord phase, else as is
)
step_st = st.tuples(st.lists(command_st, max_size=4), st.one_of(st.none(), st.none(), st.none(), st.none(), plan_st))
STEPS = 80
STEP_S = 2.0  # 160 s per example: long enough for bounded plan transitions to take steps
EXAMPLES = 130  # 130 x 80 = 10,400 command batches and ~2,000 plans (about a fifth accepted)


def random_plan(model: IntersectionModel, raw: tuple[list[float], float, float, int]) -> TimingPlan:
    greens, offset, ped, defect = raw
    n = len(model.phases)
    phases = [PhaseTiming(k, round(g, 1), 3.0, 1.0, 5.0, 40.0, round(ped, 1)) for k, g in enumerate(greens[:n])]
    if defect == 2:
        phases.reverse()
    if defect == 3:
        phases.pop()
    if defect == 4:
        phases[0] = PhaseTiming(phases[0].phase, phases[0].green_s, 1.0, 1.0, 5.0, 40.0)
    cycle = sum(p.split_s for p in phases) + (3.0 if defect == 1 else 0.0)
    coord = 7 if defect == 5 else phases[0].phase
    return TimingPlan({model.tls_id: IntersectionPlan(model.tls_id, cycle, offset % cycle, tuple(phases), coord)}, "random")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tls=st.sampled_from(["four", "two"]), steps=st.lists(step_st, min_size=STEPS, max_size=STEPS))
def test_no_unsafe_command_plan_or_state_reaches_the_cabinet(tls: str, steps: list) -> None:
    safe, inner, cabinet, monitor = make(tls)
    model = MODELS[tls]
    for raw_commands, raw_plan in steps:
        status = safe.status()
        if raw_plan is not None:
            try:
                safe.apply(random_plan(model, raw_plan))
            except PlanError:
                pass
        commands = [PhaseCommand(tls, KINDS[k], p) for k, p in raw_commands]
        safe.command(commands)
        cabinet.tick(STEP_S)
        monitor.observe(cabinet.now_s, cabinet.display())
    assert monitor.violations == []
    # what reached the backend is safe on its own
    for status_map, batch in inner.batches:
        st_ = status_map[tls]
        targets = {c.phase for c in batch if c.kind == "serve_next"}
        assert len(targets) <= 1
        for c in batch:
            assert 0 <= c.phase < len(model.phases)
            if c.kind == "hold":
                assert not st_.in_clearance and c.phase == st_.phase
            if c.kind == "serve_next" and not st_.in_clearance:
                assert st_.green_s >= model.phases[st_.phase].min_green_s - 1e-6
    previous = None
    for plan in inner.plans:
        validate(plan, MODELS)
        ip = plan.intersections[tls]
        if previous is not None:
            assert ip.cycle_s <= previous.cycle_s * (1 + MAX_CHANGE_PER_CYCLE) + 1e-6
            assert ip.cycle_s >= previous.cycle_s * (1 - MAX_CHANGE_PER_CYCLE) - 1e-6
            for a, b in zip(previous.phases, ip.phases):
                assert abs(b.split_s - a.split_s) <= MAX_CHANGE_PER_CYCLE * a.split_s + 1e-6
        previous = ip


# === pedestrians ===========================================================================
# Street a (through 0, right turn 1) and street b (through 2, left 3); crossing 4 runs beside
# a's through (the right turn 1 yields to it: 'g'), crossing 5 beside b's through. Phase 2
# protects a's right turn ('G') and b's left, with crossing 4 at don't walk.
STATES = ["GgrrGr", "rrGrrG", "rGrGrr"]
CROSSINGS = (Crossing(4, ":X_c0", 9.6, ("b_in", "b_out")), Crossing(5, ":X_c1", 6.4, ("a_in", "a_out")))


def pedestrian_model() -> IntersectionModel:
    links = (SignalLink(0, "a_0", "x_0", "a", "through"), SignalLink(1, "a_0", "y_0", "a", "right"),
             SignalLink(2, "b_0", "z_0", "b", "through"), SignalLink(3, "b_0", "w_0", "b", "left"))
    movements = tuple(Movement(f"{link.approach}:{link.turn}", link.approach, link.turn, (link.index,),
                               (link.from_lane,), (link.to_lane[:-2],)) for link in links)
    phases = tuple(Phase(k, s, 20.0, 5.0, 40.0) for k, s in enumerate(STATES))
    return IntersectionModel("X", links, movements, phases, 3.0, 1.0, 72.0, crossings=CROSSINGS)


MODEL = pedestrian_model()


def test_model_knows_its_crossings_and_their_times() -> None:
    assert [c.index for c in MODEL.phase_crossings(0)] == [4] and MODEL.phase_crossings(2) == ()
    assert MODEL.pedestrian_time_s(0) == pytest.approx(7.0 + 9.6 / 1.07)
    assert MODEL.pedestrian_time_s(1) == pytest.approx(7.0 + 6.4 / 1.07)
    assert MODEL.pedestrian_time_s(2) == 0.0


class FakeSumo:
    """A TraCI connection that records the states a signal head shows."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.trafficlight = SimpleNamespace(setRedYellowGreenState=lambda _tls, state: self.shown.append(state))


def test_signal_head_walks_then_clears_and_holds_the_green_until_both_are_over() -> None:
    conn = FakeSumo()
    head = SignalHead(MODEL, conn, initial_phase=1, pedestrian_recall=False)
    head.start()
    head.ped_call(0)  # a person waits at crossing 4: phase 0's next green walks
    for _ in range(6):
        head.tick()
    head.switch_to(0)
    states = []
    for _ in range(15):  # 3 s yellow, 1 s all-red, 11 s of green
        head.tick()
        states.append(conn.shown[-1])
    green = [s for s in states if s.startswith("Gg")]
    assert green[:7] == ["GgrrGr"] * 7 and green[7] == "Ggrrrr"  # walk 7 s, then don't walk (crossing red)
    assert all(s[4] == "r" and s[5] == "r" for s in states if not s.startswith("Gg"))  # never in a change
    with pytest.raises(PlanError, match="pedestrian clearance"):
        head.switch_to(1)  # 7 + 9.6 / 1.07 = 16.0 s are not over
    for _ in range(6):
        head.tick()
    head.switch_to(1)  # now they are
    assert head.in_clearance
    head = SignalHead(MODEL, FakeSumo(), initial_phase=0, pedestrian_recall=False)
    head.start()
    assert head.walk_started_s is None and head.can_switch is False
    for _ in range(6):
        head.tick()
    assert head.can_switch  # no call: min green only
    head.ped_call(0)  # a late call on the green phase: the walk starts now (a recycle)
    assert head.walk_started_s == 5.0 and not head.can_switch


def test_safety_layer_refuses_to_end_a_walk_before_its_clearance() -> None:
    backend = SumoBackend({"X": MODEL}, FakeSumo(), pedestrian_recall=True)
    clock = [0.0]
    safe = SafeBackend(backend, {"X": MODEL}, clock=lambda: clock[0])
    backend.start()
    for _ in range(10):
        clock[0] += 1
        backend.tick(1.0)
    status = safe.status()["X"]
    assert status.walk_started_s == -1.0 and status.green_s == 9.0
    safe.command([PhaseCommand("X", "serve_next", 1)])
    assert "pedestrian clearance" in str(safe.refusals[-1]) and not backend.heads["X"].in_clearance


# --- pedestrians: random commands never show an unsafe walk --------------------------------
PED_STEPS_ST = st.lists(st.tuples(st.integers(0, len(KINDS) - 1), st.integers(0, 2)), max_size=4)
PED_STEPS = 90
PED_EXAMPLES = 40


@settings(max_examples=PED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(PED_STEPS_ST, min_size=PED_STEPS, max_size=PED_STEPS), recall=st.booleans())
def test_no_walk_is_cut_or_shown_beside_a_conflicting_green(steps: list, recall: bool) -> None:
    cabinet = Cabinet.from_model(MODEL, backup_time_s=0, ped_recall=None if recall else ())
    inner = CabinetBackend({"X": cabinet})
    safe_cabinet = SafeBackend(inner, {"X": MODEL}, mappings={"X": cabinet.mapping}, clock=lambda: cabinet.now_s)
    cabinet_monitor = ConflictMonitor(cabinet.mapping)
    conn = FakeSumo()
    sumo = SumoBackend({"X": MODEL}, conn, pedestrian_recall=recall)
    clock = [0.0]
    safe_sumo = SafeBackend(sumo, {"X": MODEL}, clock=lambda: clock[0])
    sumo_monitor = ConflictMonitor(None, model=MODEL)
    sumo.start()
    sumo_monitor.observe_state(0.0, conn.shown[-1])
    for raw in steps:
        commands = [PhaseCommand("X", KINDS[k], p) for k, p in raw]
        safe_cabinet.status()
        safe_cabinet.command(commands)
        cabinet.tick(1.0)
        cabinet_monitor.observe(cabinet.now_s, cabinet.display())
        clock[0] += 1.0
        sumo.tick(1.0)
        safe_sumo.status()
        safe_sumo.command(commands)
        sumo_monitor.observe_state(clock[0], conn.shown[-1])
    assert cabinet_monitor.violations == []
    assert sumo_monitor.violations == []
    if recall:  # every green of a phase with a crossing walks
        assert cabinet.walks > 0 and sumo.walks > 0


def test_monitor_sees_a_cut_walk_and_a_walk_beside_a_protected_turn() -> None:
    monitor = ConflictMonitor(None, model=MODEL)
    for t, state in enumerate(["rrrrrr", "GgrrGr", "GgrrGr", "Ggrrrr", "yyrrrr", "yyrrrr", "yyrrrr", "rrrrrr", "rrGrrG"]):
        monitor.observe_state(float(t), state)
    kinds = [v.kind for v in monitor.violations]
    assert "walk" in kinds  # 2 s of walk
    assert "ped_clearance" in kinds  # b's through 5 s after crossing 4's walk, which needs 9 s
    assert "conflict" not in kinds and "red_clearance" not in kinds
    monitor = ConflictMonitor(None, model=MODEL)
    monitor.observe_state(0.0, "GGrrGr")  # the right turn protected beside crossing 4's walk
    assert [v.kind for v in monitor.violations] == ["ped_protected"]

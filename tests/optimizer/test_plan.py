"""The timing plan type and the one validator: every refusal names intersection and phase."""

from __future__ import annotations

from dataclasses import replace

import pytest

from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan, clearance_parts, validate
from phasewise_errors import PlanError


def plan_for(model: IntersectionModel, greens: tuple[float, float] = (30.0, 20.0), offset_s: float = 0.0) -> TimingPlan:
    phases = tuple(PhaseTiming(k, g, 3.0, 1.0, 5.0, 60.0) for k, g in enumerate(greens))
    cycle = sum(p.split_s for p in phases)
    return TimingPlan({model.tls_id: IntersectionPlan(model.tls_id, cycle, offset_s, phases, 0)}, "test")


def with_phases(plan: TimingPlan, *phases: PhaseTiming, cycle_s: float | None = None) -> TimingPlan:
    ip = next(iter(plan.intersections.values()))
    cycle = sum(p.split_s for p in phases) if cycle_s is None else cycle_s
    return TimingPlan({ip.tls_id: replace(ip, phases=phases, cycle_s=cycle)}, "test")


def test_valid_plan_passes_and_round_trips(model: IntersectionModel) -> None:
    plan = plan_for(model, offset_s=12.0)
    validate(plan, {"X": model})
    again = TimingPlan.from_json(plan.to_json())
    assert again == plan
    assert again.intersections["X"].cycle_s == 58.0


def test_clearance_parts_split_yellow_and_all_red(model: IntersectionModel) -> None:
    assert clearance_parts(model, 0, 1) == (3.0, 1.0)
    assert clearance_parts(model, 0, 0) == (0.0, 0.0)


@pytest.mark.parametrize(
    "phases, cycle, message",
    [
        ((PhaseTiming(0, 4.0, 3, 1, 5, 60), PhaseTiming(1, 20.0, 3, 1, 5, 60)), None, "X phase 0: green 4 s is below its minimum 5 s"),
        ((PhaseTiming(0, 30.0, 3, 1, 5, 60, ped_min_s=35), PhaseTiming(1, 20.0, 3, 1, 5, 60)), None, "X phase 0: green 30 s is below its minimum 35 s"),
        ((PhaseTiming(0, 30.0, 3, 1, 5, 60), PhaseTiming(1, 70.0, 3, 1, 5, 80)), None, "X phase 1: green 70 s is above its maximum 60 s"),
        ((PhaseTiming(0, 30.0, 3, 0, 5, 60), PhaseTiming(1, 20.0, 3, 1, 5, 60)), None, "X phase 0: clearance to phase 1"),
        ((PhaseTiming(0, 30.0, 0, 1, 5, 60), PhaseTiming(1, 20.0, 3, 1, 5, 60)), None, "X phase 0: clearance to phase 1"),
        ((PhaseTiming(0, 30.0, 3, 1, 5, 60), PhaseTiming(1, 20.0, 3, 1, 5, 60)), 90.0, "X: phases add up to 58 s but the cycle is 90 s"),
        ((PhaseTiming(0, 30.0, 3, 1, 5, 60),), None, "X phase 1: missing from the sequence"),
        ((PhaseTiming(0, 30.0, 3, 1, 5, 60), PhaseTiming(7, 20.0, 3, 1, 5, 60)), None, "X phase 7: no such phase"),
    ],
)
def test_impossible_plans_are_refused(model: IntersectionModel, phases: tuple[PhaseTiming, ...], cycle: float | None, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        validate(with_phases(plan_for(model), *phases, cycle_s=cycle), {"X": model})


def test_conflicting_greens_are_refused(model: IntersectionModel) -> None:
    # Phase 1 altered to show both approaches green, which the network's program forbids.
    bad = replace(model, phases=(model.phases[0], replace(model.phases[1], state="GG")))
    object.__setattr__(bad, "conflicts", model.conflicts | frozenset({(0, 1)}))  # conflicts from the original program
    with pytest.raises(PlanError, match="X phase 1: conflicting links"):
        validate(plan_for(bad), {"X": bad})


def test_offset_outside_cycle_and_unknown_tls(model: IntersectionModel) -> None:
    with pytest.raises(PlanError, match="offset 70 s outside"):
        validate(plan_for(model, offset_s=70.0), {"X": model})
    with pytest.raises(PlanError, match="Y: no such traffic light"):
        validate(TimingPlan({"Y": plan_for(model).intersections["X"]}, "t"), {"X": model})


def test_phase_may_be_skipped_only_if_no_movement_needs_it(corridor_models: dict[str, IntersectionModel]) -> None:
    model = corridor_models["J1"]  # phase 1 (protected left) also goes permissive in phase 0
    phases = (PhaseTiming(0, 40.0, 3, 2, 5, 60), PhaseTiming(2, 30.0, 3, 2, 5, 60))
    plan = TimingPlan({"J1": IntersectionPlan("J1", 80.0, 0.0, phases, 0)}, "t")
    validate(plan, {"J1": model})
    without_side = TimingPlan({"J1": IntersectionPlan("J1", 75.0, 0.0, (PhaseTiming(0, 40.0, 3, 2, 5, 60), PhaseTiming(1, 25.0, 3, 2, 5, 60)), 0)}, "t")
    with pytest.raises(PlanError, match="J1 phase 2: missing from the sequence"):
        validate(without_side, {"J1": model})


def test_malformed_json_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="not a timing plan"):
        TimingPlan.from_json('{"intersections": [{"tls_id": "X"}]}')


@pytest.mark.parametrize("green, message", [
    (float("nan"), "green_s is nan, not a finite number"),
    (float("inf"), "green_s is inf, not a finite number"),
])
def test_non_finite_green_is_refused(model: IntersectionModel, green: float, message: str) -> None:
    # NaN compares false with every bound: without its own check it passed every range test
    phases = (PhaseTiming(0, green, 3, 1, 5, 60), PhaseTiming(1, 20.0, 3, 1, 5, 60))
    with pytest.raises(PlanError, match=message):
        validate(with_phases(plan_for(model), *phases, cycle_s=58.0), {"X": model})


def test_a_plan_for_part_of_a_site_is_refused_where_the_whole_site_is_meant(model: IntersectionModel) -> None:
    other = replace(model, tls_id="Y")
    plan = plan_for(model)
    validate(plan, {"X": model, "Y": other})  # a part: fine for the safety layer's bounded steps
    with pytest.raises(PlanError, match="the plan has no timing for Y"):
        validate(plan, {"X": model, "Y": other}, complete=True)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["intersections"][0]["phases"][0].update(green_s="30"), "'green_s' must be a number, not str"),
    (lambda d: d["intersections"][0]["phases"][0].update(green_s=True), "'green_s' must be a number, not bool"),
    (lambda d: d["intersections"][0].update(cycle_s=None), "'cycle_s' must be a number, not NoneType"),
    (lambda d: d["intersections"].append(d["intersections"][0]), "X: listed twice"),
    (lambda d: d["intersections"][0]["phases"][0].update(phase=0.5), "'phase' must be a whole number"),
    (lambda d: d["intersections"][0]["phases"][0].pop("yellow_s"), "'yellow_s' is missing"),
    (lambda d: d.update(intersections={}), "an 'intersections' list"),
])
def test_from_json_refuses_what_is_not_a_plan(model: IntersectionModel, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(plan_for(model).to_json())
    edit(doc)
    with pytest.raises(PlanError, match=message):
        TimingPlan.from_json(json.dumps(doc))


def test_from_json_refuses_nan_written_by_python(model: IntersectionModel) -> None:
    text = plan_for(model).to_json().replace('"green_s": 30.0', '"green_s": NaN', 1)
    with pytest.raises(PlanError, match="'green_s' is nan"):
        TimingPlan.from_json(text)

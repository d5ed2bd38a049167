"""Candidate plans around the analytical optimum: the program's cycle and a step toward its greens."""

from __future__ import annotations

import dataclasses

import pytest

from optimizer.candidates import blend_with_program
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan


class _Phase:
    def __init__(self, duration_s: float):
        self.duration_s = duration_s


class _Model:
    def __init__(self, program_greens: list[float], cycle_s: float):
        self.phases = [_Phase(g) for g in program_greens]
        self.program_cycle_s = cycle_s


def _plan(greens: list[float], clearance_s: float = 5.0) -> TimingPlan:
    phases = tuple(PhaseTiming(k, g, 3.0, clearance_s - 3.0, 5.0, 60.0) for k, g in enumerate(greens))
    cycle = sum(p.split_s for p in phases)
    return TimingPlan({"A": IntersectionPlan("A", cycle, 0.0, phases, 0)}, "test")


def test_halfway_keeps_the_cycle_and_moves_each_green() -> None:
    plan = _plan([30, 12, 30, 8])  # cycle 100
    models = {"A": _Model([36, 6, 36, 2], 100.0)}
    blended = blend_with_program(plan, models, 0.5)  # type: ignore[arg-type]
    assert blended is not None
    ip = blended.intersections["A"]
    assert [p.green_s for p in ip.phases] == [33, 9, 33, 5]  # 8 -> 5 (min green), remainder to the longest
    assert sum(p.split_s for p in ip.phases) == pytest.approx(ip.cycle_s)


def test_other_cycle_is_left_alone() -> None:
    plan = _plan([30, 12, 30, 8])
    assert blend_with_program(plan, {"A": _Model([36, 6, 36, 2], 90.0)}, 0.5) is None  # type: ignore[arg-type]


def test_program_offsets_start_the_sequence_where_the_program_does() -> None:
    from optimizer.candidates import with_program_offsets
    from optimizer.sumo_export import sumo_offset_s

    plan = _plan([30, 12, 30, 8])  # cycle 100, coordinated phase 0
    model = _Model([36, 6, 36, 2], 100.0)
    model.program_offset_s = 17.0  # type: ignore[attr-defined]
    moved = with_program_offsets(plan, {"A": model})  # type: ignore[arg-type]
    assert sumo_offset_s(moved.intersections["A"]) == pytest.approx(17.0)

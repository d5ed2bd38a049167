"""Coordination clock: yield points each cycle and offset seeking after a plan change."""

from __future__ import annotations

import pytest

from controllers.coordination import CoordinationClock


def run_cycles(clock: CoordinationClock, until_s: float) -> list[float]:
    """Serve the coordinated phase at every scheduled start; the starts in order."""
    starts = []
    for t in range(int(until_s)):
        clock.advance(float(t))
        if clock.due(float(t)) and t >= clock.next_start_s:
            starts.append(clock.next_start_s)
            clock.served()
    return starts


def test_starts_follow_cycle_and_offset() -> None:
    clock = CoordinationClock(cycle_s=90.0, offset_s=20.0, now_s=0.0)
    assert run_cycles(clock, 400) == [20.0, 110.0, 200.0, 290.0, 380.0]


def test_a_new_offset_is_sought_by_at_most_a_fifth_of_the_cycle_per_cycle() -> None:
    clock = CoordinationClock(cycle_s=100.0, offset_s=0.0, now_s=0.0, max_correction=0.2)
    assert run_cycles(clock, 1) == [0.0]
    clock.retime(cycle_s=100.0, offset_s=45.0)
    starts = run_cycles(clock, 600)
    gaps = [b - a for a, b in zip([0.0] + starts, starts)]
    assert gaps[:3] == [120.0, 120.0, 105.0]  # +20, +20, +5: three cycles of transition
    assert all(g == 100.0 for g in gaps[3:])
    assert starts[-1] % 100.0 == pytest.approx(45.0)
    assert clock.transitions == 3


def test_offset_seeking_takes_the_shorter_way_and_adopts_a_new_cycle() -> None:
    clock = CoordinationClock(cycle_s=100.0, offset_s=0.0, now_s=0.0, max_correction=0.2)
    run_cycles(clock, 1)
    clock.retime(cycle_s=80.0, offset_s=70.0)  # 70 mod 80 from 80: 10 s earlier is shorter
    starts = run_cycles(clock, 400)
    assert starts[0] == pytest.approx(70.0)
    assert all(b - a == pytest.approx(80.0) for a, b in zip(starts, starts[1:]))


def test_a_missed_start_is_skipped_not_chased() -> None:
    clock = CoordinationClock(cycle_s=60.0, offset_s=0.0, now_s=1.0, late_s=10.0)
    assert clock.next_start_s == 60.0
    clock.advance(75.0)  # the window 60..70 passed unserved
    assert clock.next_start_s == 120.0
    assert not clock.due(100.0) and clock.due(125.0)


def test_cycle_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CoordinationClock(cycle_s=0.0, offset_s=0.0, now_s=0.0)

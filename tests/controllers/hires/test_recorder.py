"""The recorder's rules on hand-built signal states: terminations, red clearance, protected lefts."""

from __future__ import annotations

from controllers.hires.enumerations import EventId
from controllers.hires.nema_numbers import NemaPhase
from controllers.hires.recorder import PRESENCE, Detector, DeviceRecorder

# links 0-1: eastbound through (phase 2), link 2: eastbound protected left (phase 5)
PHASES = {
    2: NemaPhase(2, "W", frozenset({0, 1}), False, ("W:through",), ("W_0",)),
    5: NemaPhase(5, "W", frozenset({2}), True, ("W:left",), ("W_1",)),
}
DETECTORS = {1: Detector(1, 2, PRESENCE), 2: Detector(2, 5, PRESENCE)}


def recorder(fixed_time: bool = False) -> DeviceRecorder:
    return DeviceRecorder(7, PHASES, {2: 40.0, 5: 20.0}, DETECTORS, fixed_time=fixed_time)


def codes(rec: DeviceRecorder, phase: int) -> list[tuple[float, int]]:
    return [(e.time_s, e.event_id) for e in rec.events if e.parameter == phase and e.event_id < 81]


def test_a_green_ending_with_an_empty_stop_bar_gaps_out_and_one_with_a_vehicle_is_forced_off() -> None:
    rec = recorder()
    rec.signal(0.0, "rrr")
    rec.signal(1.0, "GGr")
    rec.detector(2.0, 1, True)
    rec.detector(4.0, 1, False)
    rec.signal(10.0, "yyr")  # 6 s after the last vehicle left: a gap-out
    rec.signal(13.0, "rrr")
    rec.detector(14.0, 1, True)  # a call on red
    rec.signal(15.0, "GGr")
    rec.signal(20.0, "yyr")  # the vehicle is still on the zone: forced off
    assert codes(rec, 2) == [(1.0, 1), (10.0, 4), (10.0, 7), (10.0, 8), (13.0, 9), (13.0, 10),
                             (14.0, 43), (14.999, 11), (15.0, 1), (20.0, 6), (20.0, 7), (20.0, 8)]
    assert all(e.device_id == 7 for e in rec.events)


def test_a_green_run_to_its_maximum_maxes_out_and_fixed_time_forces_off() -> None:
    for fixed, expected in ((False, EventId.PHASE_MAX_OUT), (True, EventId.PHASE_FORCE_OFF)):
        rec = recorder(fixed)
        rec.signal(0.0, "rrr")
        rec.signal(1.0, "GGr")
        rec.signal(30.0 if fixed else 41.0, "yyr")
        assert codes(rec, 2)[1] == ((30.0 if fixed else 41.0), int(expected))


def test_a_protected_left_is_green_only_while_protected_and_a_zero_red_clearance_lasts_1_ms() -> None:
    rec = recorder()
    rec.signal(0.0, "GGg")  # throughs with the left permitted: phase 5 is not green
    rec.signal(30.0, "yyg")
    rec.signal(33.0, "rrG")  # the protected left begins as the through yellow ends
    rec.signal(40.0, "rry")
    rec.signal(43.0, "rrr")
    assert codes(rec, 5) == [(33.0, 1), (40.0, 4), (40.0, 7), (40.0, 8), (43.0, 9), (43.0, 10)]
    assert codes(rec, 2)[-3:] == [(33.0, 9), (33.0, 10), (33.001, 11)]


def test_the_pattern_is_logged_when_it_changes() -> None:
    rec = recorder()
    rec.plan(0.0, 1, 90.0, 12.0)
    rec.plan(1.0, 1, 90.0, 12.0)
    rec.plan(300.0, 2, 60.4, 0.0)
    assert [(e.time_s, e.event_id, e.parameter) for e in rec.events] == [
        (0.0, 131, 1), (0.0, 132, 90), (0.0, 133, 12), (300.0, 131, 2), (300.0, 132, 60), (300.0, 133, 0)]

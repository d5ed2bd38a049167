"""The emulated cabinet: NEMA timing, central commands, patterns, backup, NTCIP validation."""

from __future__ import annotations

import random

import pytest

from controllers.ntcip import oids
from controllers.ntcip.cabinet import Cabinet, Display, SetRefused
from controllers.ntcip.monitor import ConflictMonitor
from optimizer.intersection import IntersectionModel


def run(cabinet: Cabinet, seconds: float, dt_s: float = 1.0, monitor: ConflictMonitor | None = None) -> list[tuple[float, str, int]]:
    """Tick for ``seconds``; the (time, interval, stage) after each tick."""
    trace = []
    for _ in range(round(seconds / dt_s)):
        cabinet.tick(dt_s)
        if monitor is not None:
            monitor.observe(cabinet.now_s, cabinet.display())
        trace.append((cabinet.now_s, cabinet.interval, cabinet.stage))
    return trace


def central_free(cabinet: Cabinet) -> None:
    cabinet.write("systemPatternControl", (), oids.PATTERN_FREE)


def greens_of(trace: list[tuple[float, str, int]], stage: int) -> float:
    return sum(1 for _, interval, s in trace if interval == "green" and s == stage)


def test_own_schedule_is_the_network_program(four_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(four_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    trace = run(cabinet, 3 * 96, monitor=monitor)
    assert cabinet.read("unitControlStatus") == oids.UnitControlStatus.TIMEBASE
    assert cabinet.read("coordPatternStatus") == 1
    # after start-up every stage gets its 20 s program green each 96 s cycle
    assert [greens_of(trace[96:192], k) for k in range(4)] == [20, 20, 20, 20]
    assert monitor.violations == [] and monitor.observed == 288


def test_force_off_ends_green_at_min_green_not_before(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    central_free(cabinet)
    run(cabinet, 2)  # start-up red, then phase 1 green
    assert cabinet.interval == "green" and cabinet.stage == 0
    cabinet.set_detector_calls({1, 2})  # a car on both approaches, all the time
    cabinet.write("phaseControlGroupForceOff", (1,), 0b01)
    trace = run(cabinet, 10)
    yellow_at = next(t for t, interval, _ in trace if interval == "yellow")
    assert yellow_at == 6.0  # green from t = 1 s (after the start-up red): 5 s minimum green


def test_max_out_without_force_off(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    central_free(cabinet)
    cabinet.set_detector_calls({1, 2})
    trace = run(cabinet, 60)
    assert 38 <= greens_of(trace[:50], 0) <= 40  # phaseMaximum1 = 40 s


def test_hold_holds_past_max(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    central_free(cabinet)
    cabinet.set_detector_calls({2})
    cabinet.write("phaseControlGroupHold", (1,), 0b01)
    trace = run(cabinet, 90)
    assert all(interval == "green" and stage == 0 for _, interval, stage in trace[1:])
    cabinet.write("phaseControlGroupHold", (1,), 0)
    assert run(cabinet, 1)[0][1] == "yellow"


def test_omit_skips_a_phase(four_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(four_phase, backup_time_s=0)
    central_free(cabinet)
    cabinet.write("phaseControlGroupPhaseOmit", (1,), 0b0010)  # NEMA 2 = model phase 1
    trace = run(cabinet, 120)
    served = [s for k, (_, interval, s) in enumerate(trace) if interval == "green" and (k == 0 or trace[k - 1][2] != s)]
    assert 1 not in served and served[:4] == [0, 2, 3, 0]


def test_backup_time_falls_back_to_own_schedule(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=10)
    central_free(cabinet)
    cabinet.write("phaseControlGroupHold", (1,), 0b01)
    run(cabinet, 10)
    assert cabinet.read("unitControlStatus") == oids.UnitControlStatus.SYSTEM_CONTROL
    assert cabinet.read("coordPatternStatus") == oids.PATTERN_FREE
    run(cabinet, 1)
    assert cabinet.read("unitControlStatus") == oids.UnitControlStatus.BACKUP_MODE
    assert cabinet.read("coordPatternStatus") == 1  # the stored program runs again
    assert cabinet.read("phaseControlGroupHold", (1,)) == 0  # our hold is gone
    trace = run(cabinet, 80)
    assert greens_of(trace, 1) > 0
    central_free(cabinet)  # a new command takes control back
    assert cabinet.read("unitControlStatus") == oids.UnitControlStatus.SYSTEM_CONTROL


def write_pattern(cabinet: Cabinet, pattern: int, split: int, cycle: int, offset: int, splits: dict[int, int], coord: int) -> None:
    cabinet.write("patternCycleTime", (pattern,), cycle)
    cabinet.write("patternOffsetTime", (pattern,), offset)
    cabinet.write("patternSplitNumber", (pattern,), split)
    for phase, seconds in splits.items():
        cabinet.write("splitTime", (split, phase), seconds)
        cabinet.write("splitMode", (split, phase), int(oids.SplitMode.MAXIMUM_VEHICLE_RECALL))
        cabinet.write("splitCoordPhase", (split, phase), int(phase == coord))


def test_refused_pattern_runs_free(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    write_pattern(cabinet, 2, 2, 60, 0, {1: 30, 2: 20}, coord=1)  # 50 s of splits in a 60 s cycle
    cabinet.write("systemPatternControl", (), 2)
    assert cabinet.read("coordPatternStatus") == oids.PATTERN_FREE
    assert cabinet.read("localFreeStatus") == oids.LocalFreeStatus.BAD_PLAN
    write_pattern(cabinet, 3, 3, 60, 0, {1: 6, 2: 54}, coord=1)  # 6 s < 5 s min + 4 s clearance
    cabinet.write("systemPatternControl", (), 3)
    assert cabinet.read("localFreeStatus") == oids.LocalFreeStatus.BAD_CYCLE_TIME


def test_pattern_runs_its_cycle_and_offset(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    write_pattern(cabinet, 4, 4, 60, 17, {1: 34, 2: 26}, coord=2)
    cabinet.write("systemPatternControl", (), 4)
    assert cabinet.read("coordPatternStatus") == 4
    assert cabinet.read("localFreeStatus") == oids.LocalFreeStatus.NOT_FREE
    trace = run(cabinet, 300, monitor=monitor)
    starts = [t for k, (t, interval, s) in enumerate(trace) if s == 1 and interval == "green" and trace[k - 1][1] != "green"]
    assert [t % 60 for t in starts[2:]] == [17.0] * len(starts[2:])  # coordinated green at the offset
    assert greens_of(trace[-60:], 1) == 22 and greens_of(trace[-60:], 0) == 30
    assert monitor.violations == []


def test_flash_command_clears_then_flashes(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    run(cabinet, 8, monitor=monitor)
    cabinet.write("systemPatternControl", (), oids.PATTERN_FLASH)
    run(cabinet, 10, monitor=monitor)
    assert cabinet.read("unitFlashStatus") == oids.UnitFlashStatus.AUTOMATIC
    assert cabinet.read("coordPatternStatus") == oids.PATTERN_FLASH
    assert cabinet.link_state() == "ssss"
    central_free(cabinet)
    run(cabinet, 10, monitor=monitor)
    assert cabinet.read("unitFlashStatus") == oids.UnitFlashStatus.NOT_FLASH
    assert monitor.violations == []


def test_sets_are_validated(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    cases = [
        ("systemPatternControl", (), 300, "wrongValue"),
        ("systemPatternControl", (), 200, "wrongValue"),  # no pattern 200 in this unit
        ("splitMode", (1, 1), 9, "wrongValue"),
        ("phaseControlGroupHold", (1,), 0b100, "wrongValue"),  # NEMA 3 not used
        ("phaseMinimumGreen", (1,), 0, "wrongValue"),
        ("unitControlStatus", (), 2, "notWritable"),
        ("phaseMinimumGreen", (9,), 5, "noSuchName"),
        ("patternCycleTime", (99,), 60, "noSuchName"),
    ]
    for name, index, value, status in cases:
        with pytest.raises(SetRefused) as err:
            cabinet.write(name, index, value)
        assert err.value.error_status == status, name
    assert cabinet.read("systemPatternControl") == 0


def test_database_transaction_verifies_before_commit(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    cabinet.write("dbCreateTransaction", (), 2)
    write_pattern(cabinet, 5, 5, 60, 0, {1: 30, 2: 20}, coord=1)
    assert cabinet.read("patternCycleTime", (5,)) == 60
    cabinet.write("dbCreateTransaction", (), 3)
    assert cabinet.read("dbVerifyStatus") == oids.DbVerifyStatus.DONE_WITH_ERROR
    assert "pattern 5: bad_plan" in str(cabinet.read("dbVerifyError"))
    cabinet.write("dbCreateTransaction", (), 1)
    assert 5 not in cabinet.db.patterns  # discarded
    cabinet.write("dbCreateTransaction", (), 2)
    write_pattern(cabinet, 5, 5, 60, 0, {1: 30, 2: 30}, coord=1)
    cabinet.write("dbCreateTransaction", (), 3)
    cabinet.write("dbCreateTransaction", (), 1)
    assert cabinet.db.patterns[5].cycle_s == 60


def test_random_calls_and_commands_never_trip_the_monitor(four_phase: IntersectionModel) -> None:
    rng = random.Random(3)
    cabinet = Cabinet.from_model(four_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    central_free(cabinet)
    for _ in range(1500):
        cabinet.set_detector_calls({p for p in (1, 2, 3, 4) if rng.random() < 0.4})
        name = rng.choice([o.name for o in oids.PHASE_CONTROLS])
        cabinet.write(name, (1,), rng.randrange(16))
        cabinet.write("systemPatternControl", (), rng.choice([254, 254, 254, 1, 255]))
        cabinet.tick(rng.choice([0.1, 0.5, 1.0]))
        monitor.observe(cabinet.now_s, cabinet.display())
    assert monitor.violations == []


def test_monitor_sees_conflicts_and_short_clearances(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    flashed = []
    monitor = ConflictMonitor(cabinet.mapping, on_fault=lambda: flashed.append(True))
    monitor.observe(0.0, Display(frozenset({1}), frozenset()))
    monitor.observe(6.0, Display(frozenset(), frozenset({1})))
    assert monitor.violations == []
    monitor.observe(7.0, Display(frozenset({2}), frozenset()))  # yellow 1 s, then the rival green
    kinds = {v.kind for v in monitor.violations}
    assert kinds == {"yellow", "red_clearance"} and flashed
    found = monitor.observe(8.0, Display(frozenset({1, 2}), frozenset()))
    assert "conflict" in {v.kind for v in found}


def test_dual_ring_site_shows_both_rings(tmp_path, four_phase: IntersectionModel) -> None:
    from controllers.ntcip.nema import load_mapping

    f = tmp_path / "four.yaml"
    f.write_text("tls_id: four\nrings: [[1, 2, 3, 4], [5, 6, 7, 8]]\nbarriers: [[1, 2, 5, 6], [3, 4, 7, 8]]\n"
                 "phases: {0: [1, 5], 1: [2, 6], 2: [3, 7], 3: [4, 8]}\n")
    cabinet = Cabinet.from_model(four_phase, load_mapping(f, {"four": four_phase}), backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    trace = run(cabinet, 200, monitor=monitor)
    assert cabinet.read("coordPatternStatus") == 1  # splits per ring add up to the cycle
    greens = {cabinet.read("phaseStatusGroupGreens", (1,)) for _ in [0]}
    assert cabinet.mapping.model_phase(frozenset(oids.phases_in_mask(1, greens.pop()))) == cabinet.stage
    served = [s for k, (_, i, s) in enumerate(trace) if i == "green" and trace[k - 1][2] != s]
    assert served[:5] == [1, 2, 3, 0, 1]
    assert monitor.violations == []


def test_pedestrian_call_times_walk_and_clearance(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    central_free(cabinet)
    cabinet.write("phaseWalk", (2,), 7)
    cabinet.write("phasePedestrianClear", (2,), 10)
    cabinet.write("phaseControlGroupPedCall", (1,), 0b10)
    cabinet.write("phaseControlGroupForceOff", (1,), 0b11)  # force-offs cannot cut the walk
    cabinet.set_detector_calls({1, 2})
    trace = run(cabinet, 60)
    assert greens_of(trace, 0) in (9, 10)  # 5 s minimum green each time phase 1 runs
    run_2 = [t for t, interval, s in trace if interval == "green" and s == 1]
    assert len(run_2) >= 17 and run_2[16] - run_2[0] == 16.0  # 7 s walk + 10 s clearance, at a stretch


def test_links_served_by_both_phases_stay_green_through_the_change(four_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(four_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    states = []
    for _ in range(60):
        cabinet.tick(1.0)
        monitor.observe(cabinet.now_s, cabinet.display())
        states.append(cabinet.link_state())
    # protected lefts (links 1, 3) keep their green into the through phase (where they are
    # permitted), as SUMO's program does; the through links then go yellow together
    first_through = states.index("GgGgrrrr")
    assert all(state == "rGrGrrrr" for state in states[:first_through])
    assert "yyyyrrrr" in states[first_through:] and "ryryrrrr" not in states
    assert monitor.violations == []


def test_new_offset_is_sought_smoothly(two_phase: IntersectionModel) -> None:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    monitor = ConflictMonitor(cabinet.mapping)
    write_pattern(cabinet, 4, 4, 60, 17, {1: 34, 2: 26}, coord=2)
    write_pattern(cabinet, 5, 5, 60, 47, {1: 34, 2: 26}, coord=2)
    cabinet.write("systemPatternControl", (), 4)
    run(cabinet, 120, monitor=monitor)
    cabinet.write("systemPatternControl", (), 5)  # 30 s later in a 60 s cycle
    trace = run(cabinet, 600, monitor=monitor)
    starts = [t for k, (t, interval, s) in enumerate(trace) if s == 1 and interval == "green" and trace[k - 1][1] != "green"]
    shifts = [(b - a) - 60 for a, b in zip(starts, starts[1:])]
    assert all(abs(shift) <= 0.2 * 60 + 1 for shift in shifts)  # cycles changed by at most 20 %
    assert min(shifts) < 0  # half a cycle away: either way is as short; it shortened cycles
    assert starts[-1] % 60 == 47.0 and starts[-2] % 60 == 47.0
    assert monitor.violations == []

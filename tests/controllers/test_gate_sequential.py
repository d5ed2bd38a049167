"""The sequential gate's stopping rule (pure): switch, keep confidently, or ask for more seeds."""

from __future__ import annotations

import pytest

from controllers.gate import GateConfig, decide, decide_sequential

SEQUENTIAL = GateConfig(sequential=True, seeds=4, max_seeds=16, seed_step=4)


def test_looks_count_the_planned_tests() -> None:
    assert SEQUENTIAL.looks == 4  # 4, 8, 12, 16 seeds
    assert GateConfig(sequential=True, seeds=4, max_seeds=10, seed_step=4).looks == 3  # 4, 8, 10
    assert GateConfig().looks == 1


def test_a_clear_cut_switches_at_the_first_look() -> None:
    d = decide_sequential([100.0, 110.0, 95.0, 105.0], [80.0, 85.0, 78.0, 84.0], [900] * 4, [900] * 4,
                          SEQUENTIAL, final=False)
    assert d is not None and d.switch and "4 seeds" in d.reason


def test_a_candidate_that_cannot_reach_the_margin_is_kept_at_once() -> None:
    d = decide_sequential([100.0, 101.0, 99.0, 100.0], [104.0, 106.0, 103.0, 105.0], [900] * 4, [880] * 4,
                          SEQUENTIAL, final=False)
    assert d is not None and not d.switch and "cannot cut delay" in d.reason


def test_a_spread_out_candidate_asks_for_more_seeds_then_keeps() -> None:
    # one seed of four jams (the corridor's 69.5 ± 34.0 s/veh): the fixed rule is unsure either way
    current, candidate = [70.0, 72.0, 68.0, 71.0], [52.0, 50.0, 120.0, 51.0]
    assert decide_sequential(current, candidate, [900] * 4, [900] * 4, SEQUENTIAL, final=False) is None
    last = decide_sequential(current, candidate, [900] * 4, [900] * 4, SEQUENTIAL, final=True)
    assert last is not None and not last.switch and "undecided after 4 seeds" in last.reason


def test_each_look_is_stricter_than_the_fixed_rule() -> None:
    # p about 0.05: enough for the fixed gate at confidence 0.9, not at 0.1 / 4 per look
    current, candidate = [100.0, 104.0, 98.0, 101.0], [90.0, 103.0, 88.0, 99.0]
    fixed = decide(current, candidate, [900] * 4, [900] * 4, GateConfig())
    assert fixed.switch and 0.025 < fixed.p_value <= 0.1
    assert decide_sequential(current, candidate, [900] * 4, [900] * 4, SEQUENTIAL, final=False) is None


@pytest.mark.parametrize("final", [False, True])
def test_unusable_results_keep(final: bool) -> None:
    d = decide_sequential([100.0, float("nan")], [50.0, 50.0], [1, 1], [1, 1], SEQUENTIAL, final=final)
    assert d is not None and not d.switch

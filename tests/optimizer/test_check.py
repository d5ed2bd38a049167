"""The check's verdict (pure): the plan is recommended only when it is surely better."""

from __future__ import annotations

import json
import math

import pytest

from optimizer.check import CheckMetrics, PairedDifference, judge


def metrics(delays: list[float], throughput: int = 1000) -> CheckMetrics:
    return CheckMetrics(tuple(delays), tuple(throughput for _ in delays), tuple(1.0 for _ in delays))


def test_paired_interval_known_answer() -> None:
    # differences -2, -4, -6: mean -4, sd 2, t(0.95, 2) = 2.92 -> half width 2.92 * 2 / sqrt(3) = 3.37
    d = PairedDifference.of([10, 20, 30], [8, 16, 24], confidence=0.9)
    assert d.mean == pytest.approx(-4.0)
    assert d.high == pytest.approx(-4.0 + 3.372, abs=1e-3)


def test_better_on_every_seed_is_recommended() -> None:
    check = judge("net", [1, 2, 3], metrics([40, 42, 41]), metrics([30, 31, 30.5]))
    assert check.recommend_plan and check.recommended == "phasewise plan"


@pytest.mark.parametrize(
    "program, plan, why",
    [
        ([40, 42, 41], [50, 52, 49], "must cut it"),            # worse
        ([40, 42, 41], [40, 41.9, 41], "must cut it"),          # tied
        ([40, 80, 41], [30, 81, 30], "confidence"),             # better on average, not surely
    ],
)
def test_not_better_keeps_the_program(program: list[float], plan: list[float], why: str) -> None:
    check = judge("net", [1, 2, 3], metrics(program), metrics(plan))
    assert not check.recommend_plan and why in check.reason
    assert "existing program" in check.report()


def test_fewer_vehicles_served_is_not_better() -> None:
    check = judge("net", [1, 2], metrics([40, 42]), metrics([30, 31], throughput=900))
    assert not check.recommend_plan and "fewer vehicles" in check.reason


def test_one_seed_has_no_interval_and_json_is_valid() -> None:
    check = judge("net", [1], metrics([40]), metrics([30]))
    assert check.recommend_plan and math.isnan(check.delay_change_s.high)
    raw = json.loads(check.to_json())
    assert raw["delay_change_s"]["high"] is None and raw["recommended"] == "phasewise plan"

"""A timing plan as pattern + split rows (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.ntcip import oids
from controllers.ntcip.nema import phase_map
from controllers.ntcip.pattern import pattern_values, rounded_splits_s
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, PhaseTiming
from phasewise_errors import PlanError


def plan(greens_s, offset_s=0.0, coordinated=0, phases=None):
    phases = phases if phases is not None else range(len(greens_s))
    timings = tuple(PhaseTiming(k, g, 3.0, 1.0, 5.0, 60.0) for k, g in zip(phases, greens_s))
    return IntersectionPlan("four", sum(t.split_s for t in timings), offset_s, timings, coordinated)


def test_splits_cycle_offset_and_coordinated_phase(four_phase: IntersectionModel):
    values = pattern_values(plan((20.4, 30.3, 15.6, 25.2), offset_s=97.0, coordinated=1), phase_map(four_phase), 15, 15)
    assert values.cycle_s == 108 and values.offset_s == 97 % 108
    # 24.4 34.3 19.6 29.2 (107.5 -> 108): floors 106, the two largest remainders (.6, .4) get +1
    assert dict(values.split_time_s) == {1: 25, 2: 34, 3: 20, 4: 29}
    assert values.coord_phases == {2}
    binds = values.varbinds()
    assert binds[oids.PATTERN_SPLIT_NUMBER.instance(15)] == 15
    assert binds[oids.SPLIT_COORD_PHASE.instance(15, 2)] == 1 and binds[oids.SPLIT_MODE.instance(15, 2)] == 2


def test_a_phase_the_plan_skips_is_omitted(four_phase: IntersectionModel):
    values = pattern_values(plan((20.0, 30.0, 25.0), phases=(0, 1, 3)), phase_map(four_phase), 16, 16)
    assert values.split_time_s[3] == 0 and values.split_mode[3] == oids.SplitMode.PHASE_OMITTED


def test_values_outside_the_mib_are_a_plan_error(four_phase: IntersectionModel):
    with pytest.raises(PlanError, match="patternCycleTime = 276 out of 0..255"):
        pattern_values(plan((60.0, 60.0, 60.0, 80.0)), phase_map(four_phase), 15, 15).varbinds()
    with pytest.raises(PlanError, match="phase 0 green 2 s is below its minimum 5 s"):
        pattern_values(plan((2.0, 20.0, 20.0, 20.0)), phase_map(four_phase), 15, 15)
    with pytest.raises(PlanError, match="not a pattern number"):
        pattern_values(plan((20.0, 20.0, 20.0, 20.0)), phase_map(four_phase), 254, 1)


@given(st.lists(st.floats(min_value=0.0, max_value=120.0), min_size=1, max_size=8))
def test_rounded_splits_keep_the_rounded_total_and_move_less_than_a_second(splits):
    whole = rounded_splits_s(splits)
    assert sum(whole) == round(sum(splits))
    assert all(abs(w - s) < 1.0 for w, s in zip(whole, splits))


@given(st.lists(st.tuples(st.floats(min_value=5.0, max_value=30.0), st.floats(min_value=0.0, max_value=60.0)),
                min_size=2, max_size=8))
def test_rounded_splits_never_go_below_a_feasible_minimum(phases):
    minimum_s = [m for m, _ in phases]
    splits = [m + extra for m, extra in phases]  # a valid plan: every split at least its minimum
    whole = rounded_splits_s(splits, [math.ceil(m) for m in minimum_s])
    if sum(math.ceil(m) for m in minimum_s) <= round(sum(splits)):
        assert sum(whole) == round(sum(splits))
    assert all(w >= math.ceil(m) for w, m in zip(whole, minimum_s))


def test_a_split_at_its_minimum_is_not_rounded_below_it(four_phase: IntersectionModel):
    # splits 5.5 (= 5 s min green + 0.5 s clearance), 10.51, 20.0, 30.0: total 66.01 -> 66.
    # Plain largest remainder gives the one spare second to 10.51 and leaves 5.5 at 5 s,
    # which a controller refuses; with the minimum it is 6 s and 10.51 keeps its floor.
    timings = tuple(PhaseTiming(k, g, 0.3, 0.2, 5.0, 60.0) for k, g in enumerate((5.0, 10.01, 19.5, 29.5)))
    plan_ = IntersectionPlan("four", sum(t.split_s for t in timings), 0.0, timings, 1)
    assert rounded_splits_s([t.split_s for t in timings]) == [5, 11, 20, 30]
    values = pattern_values(plan_, phase_map(four_phase), 15, 15)
    assert dict(values.split_time_s) == {1: 6, 2: 10, 3: 20, 4: 30} and values.cycle_s == 66

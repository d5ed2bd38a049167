"""Through bands of the time-space diagram on hand-built plans with known bandwidths."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.corridor import CorridorLink
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from optimizer.time_space import plot_time_space, short_label, through_band_s


def _light(tls: str, offset_s: float, green_s: float = 30.0, cycle_s: float = 60.0) -> IntersectionPlan:
    phases = (PhaseTiming(0, green_s, 3.0, 2.0, 5.0, 60.0), PhaseTiming(1, cycle_s - green_s - 10.0, 3.0, 2.0, 5.0, 60.0))
    return IntersectionPlan(tls, cycle_s, offset_s, phases, 0)


def test_perfect_offsets_give_the_whole_green() -> None:
    # B's green starts exactly 20 s (the travel time) after A's: the band is the full 30 s green
    plan = TimingPlan({"A": _light("A", 0.0), "B": _light("B", 20.0)}, "test")
    start, width = through_band_s(plan, [("A", 0.0), ("B", 20.0)])
    assert (start, width) == (0.0, 30.0)


def test_offsets_off_by_ten_seconds_cut_the_band() -> None:
    plan = TimingPlan({"A": _light("A", 0.0), "B": _light("B", 30.0)}, "test")
    start, width = through_band_s(plan, [("A", 0.0), ("B", 20.0)])
    assert (start, width) == (10.0, 20.0)


def test_opposite_greens_leave_no_band() -> None:
    plan = TimingPlan({"A": _light("A", 0.0), "B": _light("B", 50.0)}, "test")
    assert through_band_s(plan, [("A", 0.0), ("B", 20.0)])[1] == pytest.approx(0.0)


def test_long_ids_are_shortened_and_the_plot_is_written(tmp_path: Path) -> None:
    long_id = "GS_cluster_2415878664_254486231_359566_359576"
    assert short_label(long_id) == "GS_clust…6_359576" and short_label("J1") == "J1"
    plan = TimingPlan({long_id: _light(long_id, 0.0), "B": _light("B", 20.0)}, "test", note="x" * 300)
    links = [CorridorLink(long_id, "B", 20.0, 280.0), CorridorLink("B", long_id, 20.0, 280.0)]
    assert plot_time_space(plan, links, tmp_path / "ts.png").read_bytes()[:4] == b"\x89PNG"

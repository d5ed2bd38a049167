"""Hand-built intersections for the cabinet, monitor, agent and NEMA-mapping tests."""

from __future__ import annotations

import pytest

from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink


def model_from_states(
    tls_id: str, states: list[str], min_green_s: float = 5.0, max_green_s: float = 40.0,
    yellow_s: float = 3.0, all_red_s: float = 1.0,
) -> IntersectionModel:
    """One link per state position (approach ``a<i>``), one phase per state."""
    n = len(states[0])
    links = tuple(SignalLink(i, f"a{i}_0", f"o{i}_0", f"a{i}", "through") for i in range(n))
    movements = tuple(Movement(f"a{i}:through", f"a{i}", "through", (i,), (f"a{i}_0",), (f"o{i}",)) for i in range(n))
    phases = tuple(Phase(k, s, 20.0, min_green_s, max_green_s) for k, s in enumerate(states))
    cycle = sum(p.duration_s for p in phases) + len(phases) * (yellow_s + all_red_s)
    return IntersectionModel(tls_id, links, movements, phases, yellow_s, all_red_s, cycle)


TWO_PHASE = ["GGrr", "rrGG"]
FOUR_PHASE = ["rGrGrrrr", "GgGgrrrr", "rrrrrGrG", "rrrrGgGg"]
"""NS protected lefts, NS through (lefts permitted), EW protected lefts, EW through."""


@pytest.fixture
def two_phase() -> IntersectionModel:
    return model_from_states("two", TWO_PHASE)


@pytest.fixture
def four_phase() -> IntersectionModel:
    return model_from_states("four", FOUR_PHASE)

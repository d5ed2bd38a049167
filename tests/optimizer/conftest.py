"""Hand-built intersections and a cached built-in corridor for the optimizer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.scenario import Scenario


def two_phase_model(tls_id: str = "X", min_green_s: float = 5.0, max_green_s: float = 60.0) -> IntersectionModel:
    """Two one-lane approaches crossing: ``a`` goes in phase 0, ``b`` in phase 1; L = 2 x (3 + 1) s."""
    links = (
        SignalLink(0, "a_0", "a2_0", "a", "through"),
        SignalLink(1, "b_0", "b2_0", "b", "through"),
    )
    movements = (
        Movement("a:through", "a", "through", (0,), ("a_0",), ("a2",)),
        Movement("b:through", "b", "through", (1,), ("b_0",), ("b2",)),
    )
    phases = (
        Phase(0, "Gr", 30.0, min_green_s, max_green_s, ("a:through",)),
        Phase(1, "rG", 30.0, min_green_s, max_green_s, ("b:through",)),
    )
    return IntersectionModel(tls_id, links, movements, phases, yellow_s=3.0, all_red_s=1.0, program_cycle_s=68.0)


@pytest.fixture
def model() -> IntersectionModel:
    return two_phase_model()


@pytest.fixture(scope="session")
def corridor_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_corridor(CorridorSpec(intersections=3, demand="high", duration_s=900.0), 1, tmp_path_factory.mktemp("corr"))


@pytest.fixture(scope="session")
def corridor_models(corridor_scenario: Scenario) -> dict[str, IntersectionModel]:
    return load_intersections(corridor_scenario.net_file)


@pytest.fixture(scope="session")
def net_file(corridor_scenario: Scenario) -> Path:
    return corridor_scenario.net_file

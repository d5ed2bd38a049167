"""The ``static`` baseline: the network's own fixed-time program, untouched."""

from __future__ import annotations

from pathlib import Path

from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario


class StaticController:
    """Leaves every traffic light on the program stored in the network."""

    name = "static"

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    def start(self, sim: Simulation) -> None:
        pass

    def step(self, sim: Simulation) -> None:
        pass

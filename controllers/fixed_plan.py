"""The ``optimized`` controller: run a :class:`~optimizer.plan.TimingPlan` as fixed-time programs.

The plan is written as SUMO ``<tlLogic>`` programs (the same writer as the export,
:mod:`optimizer.sumo_export`), loaded as an additional file, and every planned traffic light
is switched to it at start. Offsets are kept: SUMO positions each program in its cycle from
the absolute simulation time, so coordination holds whenever the run begins. Lights the plan
does not cover keep the network's own program.

    controller = FixedPlanController(TimingPlan.from_json(Path("plan.json").read_text()))
    run(RunJob(scenario, seed=1, controller=partial(FixedPlanController, plan)))
"""

from __future__ import annotations

from pathlib import Path

from optimizer.plan import TimingPlan
from optimizer.sumo_export import PROGRAM_ID, write_additional
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario


class FixedPlanController:
    """Applies ``plan`` (validated against the scenario's network) as static programs."""

    name = "optimized"

    def __init__(self, plan: TimingPlan, program_id: str = PROGRAM_ID):
        self.plan = plan
        self.program_id = program_id

    @classmethod
    def from_file(cls, path: Path) -> FixedPlanController:
        return cls(TimingPlan.from_json(Path(path).read_text(encoding="utf-8")))

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        models = load_intersections(scenario.net_file)
        return [write_additional(self.plan, models, workdir / "plan.add.xml", self.program_id)]

    def start(self, sim: Simulation) -> None:
        for tls_id in self.plan.intersections:
            sim.conn.trafficlight.setProgram(tls_id, self.program_id)

    def step(self, sim: Simulation) -> None:
        pass

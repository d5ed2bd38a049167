"""The ``actuated`` baseline: SUMO's own gap-based actuated control over the same phases.

We write, for every traffic light, a copy of the network's program with ``type="actuated"``,
the same phase sequence (yellows included), and each green phase bounded by the intersection
model's min/max green. SUMO places its own induction loops upstream of the stop lines and
extends a green while vehicles keep arriving within ``max_gap_s`` of each other.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import sumolib

from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario

PROGRAM_ID = "phasewise-actuated"


class ActuatedController:
    """SUMO gap-based actuation. ``max_gap_s``: gap that ends a green (SUMO's ``max-gap``)."""

    name = "actuated"

    def __init__(self, max_gap_s: float = 3.0, detector_gap_s: float = 2.0, min_green_s: float = 5.0):
        self.max_gap_s = max_gap_s
        self.detector_gap_s = detector_gap_s
        self.min_green_s = min_green_s

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        path = workdir / "actuated.add.xml"
        write_actuated_programs(scenario.net_file, path, self.max_gap_s, self.detector_gap_s, self.min_green_s)
        return [path]

    def start(self, sim: Simulation) -> None:
        for tls_id in sim.intersections:
            sim.conn.trafficlight.setProgram(tls_id, PROGRAM_ID)

    def step(self, sim: Simulation) -> None:
        pass


def write_actuated_programs(
    net_file: Path, out: Path, max_gap_s: float, detector_gap_s: float, min_green_s: float
) -> None:
    """Write an additional file with an actuated copy of every traffic light's program."""
    net = sumolib.net.readNet(str(net_file), withPrograms=True)
    root = ET.Element("additional")
    for tls in net.getTrafficLights():
        programs = tls.getPrograms()
        if not programs:
            continue
        program = programs[sorted(programs)[0]]
        logic = ET.SubElement(
            root, "tlLogic", id=tls.getID(), type="actuated", programID=PROGRAM_ID, offset="0"
        )
        ET.SubElement(logic, "param", key="max-gap", value=f"{max_gap_s:g}")
        ET.SubElement(logic, "param", key="detector-gap", value=f"{detector_gap_s:g}")
        for phase in program.getPhases():
            attrs = {"duration": f"{phase.duration:g}", "state": phase.state}
            is_green = "y" not in phase.state.lower() and any(c in "Gg" for c in phase.state)
            if is_green:
                min_dur = phase.minDur if phase.minDur and phase.minDur > 0 else min(min_green_s, phase.duration)
                max_dur = phase.maxDur if phase.maxDur and phase.maxDur > 0 else max(60.0, phase.duration)
                attrs["minDur"] = f"{min_dur:g}"
                attrs["maxDur"] = f"{max(max_dur, phase.duration):g}"
            ET.SubElement(logic, "phase", **attrs)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)

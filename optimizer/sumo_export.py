"""A timing plan as a SUMO additional file: one static ``<tlLogic>`` per intersection.

Each program lists, for every phase of the sequence, its green state for ``green_s`` and
then the model's clearance states into the next phase (yellow for ``yellow_s``, all-red
for ``all_red_s``). The program starts with the first phase of the sequence; SUMO's
``offset`` shifts the whole program so that position 0 is reached at time ``offset``
(SUMO: a positive offset delays all phases), hence ``offset = plan offset - start of the
coordinated green within the program``. The file loads unchanged in ``sumo`` and
``netedit`` (``sumo -n net.net.xml -a plan.add.xml``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, TimingPlan, validate

PROGRAM_ID = "phasewise"


def program_phases(ip: IntersectionPlan, model: IntersectionModel) -> list[tuple[str, float]]:
    """``(state, duration_s)`` of one full cycle, starting with the sequence's first green."""
    out: list[tuple[str, float]] = []
    seq = ip.sequence
    for j, pt in enumerate(ip.phases):
        out.append((model.phases[pt.phase].state, pt.green_s))
        steps = model.transition(pt.phase, seq[(j + 1) % len(seq)])
        for state, _ in steps:
            duration = pt.yellow_s if "y" in state.lower() else pt.all_red_s
            if duration > 0:
                out.append((state, duration))
    return out


def sumo_offset_s(ip: IntersectionPlan) -> float:
    """SUMO's ``offset`` attribute: when program position 0 (the first green) is reached."""
    return ip.sequence_start_s()


def plan_to_additional(plan: TimingPlan, models: dict[str, IntersectionModel], program_id: str = PROGRAM_ID) -> str:
    """The additional-file XML text of a (validated) plan."""
    validate(plan, models)
    root = ET.Element("additional")
    root.append(ET.Comment(f" phasewise timing plan, created by {plan.created_by} "))
    for tls_id, ip in plan.intersections.items():
        logic = ET.SubElement(root, "tlLogic", id=tls_id, type="static", programID=program_id,
                              offset=_fmt(sumo_offset_s(ip)))
        for state, duration in program_phases(ip, models[tls_id]):
            ET.SubElement(logic, "phase", duration=_fmt(duration), state=state)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_additional(plan: TimingPlan, models: dict[str, IntersectionModel], path: Path, program_id: str = PROGRAM_ID) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan_to_additional(plan, models, program_id), encoding="utf-8")
    return path


def _fmt(seconds: float) -> str:
    return f"{round(seconds, 2):g}"

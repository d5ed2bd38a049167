"""A timing plan as a SUMO additional file: one static ``<tlLogic>`` per intersection.

Each program lists, for every phase of the sequence, its green state for ``green_s`` and
then the model's clearance states into the next phase (yellow for ``yellow_s``, all-red
for ``all_red_s``). The program starts with the first phase of the sequence; SUMO's
``offset`` shifts the whole program so that position 0 is reached at time ``offset``
(SUMO: a positive offset delays all phases), hence ``offset = plan offset - start of the
coordinated green within the program``. The file loads unchanged in ``sumo`` and
``netedit`` (``sumo -n net.net.xml -a plan.add.xml``).

A green whose phase shows walk on pedestrian crossings (``model.crossings``) is split as a
fixed-time controller times it: walk, then flashing don't-walk (crossings red) for the last
``clearance_s`` of the green; a green shorter than walk + clearance shows no walk at all.
Crossings are red in every clearance.
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
        out += _green(model, pt.phase, pt.green_s)
        steps = model.transition(pt.phase, seq[(j + 1) % len(seq)])
        for state, _ in steps:
            duration = pt.yellow_s if "y" in state.lower() else pt.all_red_s
            if duration > 0:
                out.append((_no_walk(model, state), duration))
    return out


def _green(model: IntersectionModel, phase: int, green_s: float) -> list[tuple[str, float]]:
    """A phase's green: walk then flashing don't-walk on its crossings (module docstring)."""
    state = model.phases[phase].state
    crossings = model.phase_crossings(phase)
    if not crossings:
        return [(state, green_s)]
    clearance_s = max(c.clearance_s for c in crossings)
    if green_s < model.pedestrian_time_s(phase):
        return [(_no_walk(model, state), green_s)]
    return [(state, green_s - clearance_s), (_no_walk(model, state), clearance_s)]


def _no_walk(model: IntersectionModel, state: str) -> str:
    """``state`` with every crossing red (don't walk)."""
    if not model.crossings:
        return state
    crossings = {c.index for c in model.crossings}
    return "".join("r" if i in crossings else ch for i, ch in enumerate(state))


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

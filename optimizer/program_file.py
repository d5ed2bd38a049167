"""SUMO program files: the network's own program as an additional file, and running one.

``plan.add.xml`` is always the *recommended* program. When the optimized plan does not beat
the network's program in SUMO, the recommendation is the program the network already runs:
:func:`existing_program_xml` copies its ``<tlLogic>`` elements (the net's, overridden by any
loaded additional file, as SUMO itself does: the last program loaded runs) under the
``phasewise`` program id, so the file loads in plain SUMO exactly like an optimized plan
(``sumo -n net.net.xml -a plan.add.xml``) and switches every light to it.

:class:`ProgramFileController` runs any such file through the one runner::

    run(RunJob(scenario, seed=1, controller=partial(ProgramFileController, Path("plan.add.xml"))))
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from phasewise_errors import ConfigError

PROGRAM_ID = "phasewise"  # the same id as optimizer.sumo_export: one id for every program we write


def existing_program_xml(net_file: Path, additional_files: Sequence[Path], tls_ids: Iterable[str],
                         program_id: str = PROGRAM_ID) -> str:
    """Additional-file XML with the program each of ``tls_ids`` runs in the scenario today."""
    running: dict[str, ET.Element] = {}
    for file in (net_file, *additional_files):
        for logic in ET.parse(file).getroot().iter("tlLogic"):
            running[logic.get("id", "")] = logic  # the last loaded program is the one SUMO runs
    root = ET.Element("additional")
    root.append(ET.Comment(" the network's own program (recommended: the optimized plan did not beat it in SUMO) "))
    for tls_id in tls_ids:
        if tls_id not in running:
            raise ConfigError(f"{net_file}: no program (tlLogic) for traffic light '{tls_id}'")
        logic = copy.deepcopy(running[tls_id])
        logic.tail = None
        logic.set("programID", program_id)
        root.append(logic)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def programs_in(path: Path) -> dict[str, str]:
    """``{tls id: program id}`` of every ``<tlLogic>`` in an additional file (the last one wins)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give a plan.add.xml or plan.json")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ConfigError(f"{path}: not a readable SUMO additional file ({exc})") from None
    if root.tag != "additional":
        raise ConfigError(f"{path}: not a SUMO additional file (root element <{root.tag}>, expected <additional>)")
    found = {logic.get("id", ""): logic.get("programID", "0") for logic in root.iter("tlLogic")}
    if not found:
        raise ConfigError(f"{path}: no <tlLogic> program in the file; give a plan.add.xml or plan.json")
    return found


def check_program_file(path: Path, net_file: Path, program_files: Sequence[Path] = ()) -> dict[str, str]:
    """``{tls id: program id}`` of a file of ``<tlLogic>`` programs, checked against the network
    before SUMO sees it (SUMO crashes on a negative duration and names no file for the rest).

    Each program must be for a light of the network, with finite durations above 0 and one
    signal per link in every state (:func:`sumo_scenarios.network.check_program`), and no
    state may show green together two links the network's own program never does (the
    conflicts of :meth:`~optimizer.intersection.IntersectionModel.unsafe_pairs`, as
    :func:`optimizer.plan.validate` checks a plan.json). ``program_files`` are the scenario's
    own additional files, loaded before ``path``. ``ScenarioError``/``PlanError`` name the
    file, light, program and phase.
    """
    from phasewise_errors import PlanError
    from sumo_scenarios.network import load_intersections

    programs = programs_in(path)
    load_intersections(net_file, program_files=[*program_files, path])  # structure of every program
    models = load_intersections(net_file, program_files=program_files)  # the conflicts of the network's program
    for logic in ET.parse(path).getroot().iter("tlLogic"):
        model = models.get(logic.get("id", ""))
        if model is None or logic.get("type") == "NEMA":  # a rail signal or off; NEMA states are per ring
            continue
        for k, phase in enumerate(logic.iter("phase")):
            unsafe = model.unsafe_pairs(phase.get("state", ""))
            if unsafe:
                raise PlanError(f"{path}: tlLogic '{model.tls_id}' program '{logic.get('programID', '0')}' phase {k}: "
                                f"state {phase.get('state')!r} shows conflicting links {unsafe[:3]} green together "
                                "(the network's program never does)")
    return programs


class ProgramFileController:
    """Loads an additional file of ``<tlLogic>`` programs and switches its lights to them at start.

    Lights the file does not name keep the network's program. The file is checked (readable,
    at least one program) when the controller is built, before any simulation starts.
    """

    name = "program-file"

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self.programs = programs_in(self.path)

    def additional_files(self, scenario: Any, workdir: Path) -> list[Path]:
        return [self.path]

    def start(self, sim: Any) -> None:
        for tls_id, program_id in self.programs.items():
            sim.conn.trafficlight.setProgram(tls_id, program_id)

    def step(self, sim: Any) -> None:
        pass

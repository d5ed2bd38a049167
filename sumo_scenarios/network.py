"""Derive an :class:`~optimizer.intersection.IntersectionModel` for every traffic light of a
SUMO network, with no per-scenario tables.

From the ``.net.xml`` we read, per traffic-light system (a single junction or a joined
cluster): its controlled connections (tls link index, from/to lane, SUMO turn direction),
and its program. When a light has several programs, the model follows the one SUMO runs:
the last one in the file (SUMO activates each program as it loads it). Green phases are the
program's phases that show some green and no yellow or red-yellow (``u``);
the yellow time is taken from the program's yellow phases and the all-red time from its
all-red phases (none when it has yellow but no all-red phases; ``default_all_red_s`` when
it has neither). Movements group links by approach
edge and turn. Conflicts follow from the program itself (see ``optimizer.intersection``).

Every ``tlLogic`` SUMO accepts loads: ``static``, ``actuated``, ``delay_based`` and ``NEMA``
types (``minDur``/``maxDur`` bound the greens; ``next`` and ``name`` do not matter to the
model), state strings longer than the links (signal indices no connection uses, shown as
the program shows them), a connection's second signal for its internal stop
(``linkIndex2``, driven as the program shows it, not a second link; NEMA's ring phases
become their concurrent pairs, see :mod:`sumo_scenarios.nema`) and pedestrian
crossings: their signals are in the states and in the conflicts, but they are not
:class:`~optimizer.intersection.SignalLink` s (no vehicle lanes), so a phase that serves only
pedestrians has no movements. Each crossing is a
:class:`~optimizer.intersection.Crossing` of the model (signal index, length), and two green
phases of the program that differ only in their crossings' signals (netconvert's walk
phase and the pedestrian clearance that follows it, crossings red, vehicles still green) are
one phase: the vehicle green, with the walk shown on the crossings (durations added); the
flashing don't-walk is the signal's to time (``controllers.signal_head``). Rail crossings,
rail signals and ``off`` programs are not signals to control and get no model.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sumolib

from optimizer.intersection import GREEN_CHARS, Crossing, IntersectionModel, Movement, Phase, SignalLink, Turn
from phasewise_errors import ScenarioError
from sumo_scenarios.nema import nema_clearances, nema_green_phases

_TURNS: dict[str, Turn] = {
    "s": "through",
    "l": "left",
    "L": "left",
    "r": "right",
    "R": "right",
    "t": "uturn",
}


# programs that are not ours to drive: SUMO runs rail crossings and rail signals by train
# position, and "off" programs show no signal at all
_NOT_CONTROLLED_TYPES = frozenset({"rail_crossing", "rail_signal", "off"})

# yellow (y, Y) and red-yellow (u, the German "prepare to go"): transitions, not green phases
_TRANSITION_CHARS = frozenset("yYu")


@dataclass(frozen=True)
class TimingDefaults:
    """Bounds used where the network's program does not state them (seconds)."""

    min_green_s: float = 5.0
    max_green_s: float = 60.0
    yellow_s: float = 3.0
    all_red_s: float = 1.0


def load_intersections(
    net_file: str | Path,
    defaults: TimingDefaults = TimingDefaults(),
    program_files: Sequence[Path] = (),
) -> dict[str, IntersectionModel]:
    """All signalised intersections of a network, keyed by tls id (in network order).

    ``program_files`` are additional files loaded after the net (a scenario's
    ``additional-files``): a ``tlLogic`` in them is loaded after the net's and so is the
    program SUMO runs. Raises ``ScenarioError`` when a file is missing or unreadable or the
    network has no traffic light.
    """
    path = Path(net_file)
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder; give the network file (.net.xml) in it")
    if not path.is_file():
        raise ScenarioError(f"{path}: network file not found")
    _check_root(path, "net", "a SUMO network (.net.xml)")
    try:
        net = sumolib.net.readNet(str(path), withPrograms=True)
    except Exception as exc:  # sumolib raises bare SAX/XML errors on malformed files
        try:  # say where the XML breaks, when it does
            ET.parse(path)
        except ET.ParseError as xml_error:
            raise ScenarioError(f"{path}: not valid XML ({xml_error})") from None
        raise ScenarioError(f"{path}: cannot read SUMO network ({type(exc).__name__}: {exc})") from None
    for tls in net.getTrafficLights():
        for program in tls.getPrograms().values():
            check_program(tls, program, path)
    for file in program_files:
        _load_programs(net, Path(file))
    nema = any(program.getType() == "NEMA" for tls in net.getTrafficLights() for program in tls.getPrograms().values())
    clearances = {}
    for file in (path, *program_files) if nema else ():
        clearances.update(nema_clearances(Path(file)))
    crossings = _crossings(path)
    models = {}
    for tls in net.getTrafficLights():
        model = _intersection(tls, defaults, clearances.get(tls.getID()), crossings.get(tls.getID(), ()))
        if model is not None:
            models[model.tls_id] = model
    if not models:
        raise ScenarioError(f"{path}: the network has no traffic lights to control")
    return models


MAX_OFFSET_S = 864000.0  # ten days: SUMO refuses an offset it cannot show as a time; NaN it takes silently

# the signal states SUMO accepts in a tlLogic phase
SIGNAL_CHARS = frozenset("rRyYgGuoOs")


def _check_root(file: Path, expected: str, what: str) -> None:
    """ScenarioError naming ``file`` unless its XML root element is ``<expected>``."""
    try:
        _, root = next(ET.iterparse(file, events=("start",)))
    except ET.ParseError as exc:
        raise ScenarioError(f"{file}: not valid XML ({exc})") from None
    except StopIteration:
        raise ScenarioError(f"{file}: empty file; expected {what}") from None
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if root.tag != expected:
        raise ScenarioError(f"{file}: not {what}: its root element is <{root.tag}>, expected <{expected}>")


def check_program(tls: sumolib.net.TLS, program: sumolib.net.TLSProgram, file: Path) -> None:
    """What SUMO would refuse (or crash on) in one ``tlLogic``, as a ScenarioError naming the
    file, the light, the program and the phase: no phases, a duration that is not a finite
    number above 0, minDur/maxDur not finite, a state of unknown signal characters, phases of
    different lengths, or a state shorter than the links the light controls."""
    where = f"{file}: tlLogic '{tls.getID()}' program '{program._id}'"
    phases = program.getPhases()
    if not phases:
        raise ScenarioError(f"{where}: no <phase>")
    links = max((index for _, _, index in tls.getConnections()), default=-1) + 1
    length = len(phases[0].state)
    for k, phase in enumerate(phases):
        at = f"{where} phase {k}"
        if not math.isfinite(phase.duration) or phase.duration <= 0:
            raise ScenarioError(f"{at}: duration {phase.duration:g} s must be a finite number above 0")
        for name in ("minDur", "maxDur"):
            bound = getattr(phase, name)
            if bound is not None and not math.isfinite(bound):
                raise ScenarioError(f"{at}: {name} {bound:g} s is not a finite number")
        unknown = sorted(set(phase.state) - SIGNAL_CHARS)
        if unknown or not phase.state:
            raise ScenarioError(f"{at}: state {phase.state!r} " + (f"has unknown signal(s) {''.join(unknown)!r}"
                                if unknown else "is empty") + f"; signals are {''.join(sorted(SIGNAL_CHARS))}")
        if len(phase.state) != length:
            raise ScenarioError(f"{at}: state has {len(phase.state)} signals, phase 0 has {length}; "
                                "every phase shows every link")
        if len(phase.state) < links:
            raise ScenarioError(f"{at}: state {phase.state!r} has {len(phase.state)} signals, but the light "
                                f"controls {links} links (indices 0..{links - 1}): one signal per link")


def _load_programs(net: sumolib.net.Net, file: Path) -> None:
    """Add the ``tlLogic`` programs of an additional file, each after the net's (it runs)."""
    if file.is_dir():
        raise ScenarioError(f"{file}: is a folder; give an additional file (.add.xml)")
    try:
        root = ET.parse(file).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ScenarioError(f"{file}: cannot read additional file ({exc})") from None
    for logic in root.iter("tlLogic"):
        tls_id, program_id = logic.get("id", ""), logic.get("programID", "0")
        try:
            programs = net.getTLS(tls_id).getPrograms()
        except KeyError:
            raise ScenarioError(f"{file}: tlLogic for traffic light '{tls_id}', which the network does not have") from None
        try:
            offset = logic.get("offset", "0")
            offset_s = 0.0 if offset == "begin" else float(offset)  # "begin": counted from loading
            if not math.isfinite(offset_s) or abs(offset_s) > MAX_OFFSET_S:
                raise ValueError(f"offset {offset} must be a finite number of seconds (at most {MAX_OFFSET_S:g})")
            program = sumolib.net.TLSProgram(program_id, offset_s, logic.get("type", "static"))
            for phase in logic.iter("phase"):
                program.addPhase(
                    phase.get("state", ""), float(phase.get("duration", "")),
                    float(phase.get("minDur", -1)), float(phase.get("maxDur", -1)),
                    [int(n) for n in phase.get("next", "").split()], phase.get("name", ""),
                )
        except ValueError as exc:
            raise ScenarioError(f"{file}: tlLogic '{tls_id}' program '{program_id}': {exc}") from None
        for param in logic.iter("param"):
            program.setParam(param.get("key"), param.get("value"))
        check_program(net.getTLS(tls_id), program, file)
        programs.pop(program_id, None)  # re-inserted last: a dict keeps a replaced key's place
        programs[program_id] = program


def _crossings(net_file: Path) -> dict[str, tuple[Crossing, ...]]:
    """Per traffic light, its signalised pedestrian crossings (from the ``crossing`` edges and
    the connections into them that carry a ``tl`` and ``linkIndex``/``linkIndex2``)."""
    lengths: dict[str, float] = {}
    crossed: dict[str, tuple[str, ...]] = {}
    signals: dict[tuple[str, str], set[int]] = defaultdict(set)
    ends: dict[str, list[str]] = defaultdict(list)  # crossing -> the walking areas at its ends
    for _, elem in ET.iterparse(net_file, events=("end",)):
        if elem.tag == "edge":
            if elem.get("function") == "crossing":
                lane = elem.find("lane")
                lengths[elem.get("id", "")] = float(lane.get("length", 0)) if lane is not None else 0.0
                crossed[elem.get("id", "")] = tuple(elem.get("crossingEdges", "").split())
            elem.clear()
        elif elem.tag == "connection":
            # a crossing is walked both ways: the walking areas on either side lead onto it
            for crossing, area in ((elem.get("to", ""), elem.get("from", "")), (elem.get("from", ""), elem.get("to", ""))):
                if crossing.startswith(":") and "_c" in crossing and area not in ends[crossing]:
                    ends[crossing].append(area)
            tl = elem.get("tl")
            if tl is not None:
                for edge in (elem.get("to", ""), elem.get("from", "")):
                    if edge.startswith(":") and "_c" in edge:  # a crossing's id (checked against lengths below)
                        for key in ("linkIndex", "linkIndex2"):
                            if elem.get(key) not in (None, "-1"):
                                signals[(tl, edge)].add(int(elem.get(key, "-1")))
            elem.clear()
    out: dict[str, list[Crossing]] = defaultdict(list)
    for (tl, edge), indices in signals.items():
        if edge in lengths:
            out[tl] += [Crossing(i, edge, lengths[edge], crossed[edge], tuple(ends.get(edge, ())))
                        for i in sorted(indices)]
    return {tl: tuple(sorted(found, key=lambda c: c.index)) for tl, found in out.items()}


def _merge_walk_phases(greens: list, crossing_indices: frozenset[int]) -> list[tuple[object, str, float]]:
    """(first SUMO phase, state, duration) per green phase, where phases that differ only in
    their crossings' signals are one: crossings green where any of them shows green,
    durations of its distinct states added. Without crossings: one per distinct state."""
    groups: dict[str, list] = {}
    for p in greens:
        key = "".join("r" if i in crossing_indices else c for i, c in enumerate(p.state))
        groups.setdefault(key, []).append(p)
    merged = []
    for members in groups.values():
        first = members[0]
        if len(members) == 1 or not crossing_indices:
            merged.append((first, first.state, float(first.duration)))
            continue
        state = "".join(
            next((m.state[i] for m in members if m.state[i] in GREEN_CHARS), c) if i in crossing_indices else c
            for i, c in enumerate(first.state))
        distinct = {m.state: float(m.duration) for m in reversed(members)}  # the first of each state
        merged.append((first, state, sum(distinct.values())))
    return merged


def _intersection(
    tls: sumolib.net.TLS, defaults: TimingDefaults, nema_clearance: tuple[float, float] | None = None,
    crossings: tuple[Crossing, ...] = (),
) -> IntersectionModel | None:
    programs = tls.getPrograms()
    if not programs:
        return None
    program = list(programs.values())[-1]  # the last loaded runs (see the module docstring)
    if program.getType() in _NOT_CONTROLLED_TYPES:
        return None
    links = _links(tls)
    movements = _movements(links)
    link_movement = {i: m.id for m in movements for i in m.link_indices}

    sumo_phases = program.getPhases()
    greens = [p for p in sumo_phases if any(c in GREEN_CHARS for c in p.state) and not _TRANSITION_CHARS & set(p.state)]
    if program.getType() == "NEMA":
        greens = nema_green_phases(program) or greens  # ring phases -> concurrent pairs
    if not greens:
        return None
    crossings = tuple(c for c in crossings if c.index < len(sumo_phases[0].state))
    phases = []
    for p, state, duration in _merge_walk_phases(greens, frozenset(c.index for c in crossings)):
        green_links = [i for i, c in enumerate(state) if c in GREEN_CHARS]
        min_green = p.minDur if p.minDur is not None and p.minDur > 0 else defaults.min_green_s
        max_green = p.maxDur if p.maxDur is not None and p.maxDur > 0 else defaults.max_green_s
        min_green = min(float(min_green), duration)
        phases.append(
            Phase(
                index=len(phases),
                state=state,
                duration_s=duration,
                min_green_s=min_green,
                max_green_s=max(float(max_green), duration, min_green),
                movements=tuple(dict.fromkeys(link_movement[i] for i in green_links if i in link_movement)),
            )
        )
    yellows = [p.duration for p in sumo_phases if "y" in p.state.lower()]  # not "u": red-yellow precedes green
    all_reds = [
        p.duration for p in sumo_phases if set(p.state.lower()) <= {"r", "s", "o"} and p.duration > 0
    ]
    cycle_s = float(sum(p.duration for p in sumo_phases))
    if nema_clearance is not None and program.getType() == "NEMA":  # clearances are phase attributes
        yellows, all_reds = [nema_clearance[0]], [nema_clearance[1]] if nema_clearance[1] > 0 else []
        cycle_s = sum(p.duration_s for p in phases) + len(phases) * sum(nema_clearance)
    return IntersectionModel(
        tls_id=tls.getID(),
        links=tuple(links),
        movements=tuple(movements),
        phases=tuple(phases),
        yellow_s=float(min(yellows)) if yellows else defaults.yellow_s,
        # A program with yellow but no all-red phases is the engineer's choice (Cologne and
        # Ingolstadt use none): keep it. The default applies only when there is no clearance.
        all_red_s=float(min(all_reds)) if all_reds else (0.0 if yellows else defaults.all_red_s),
        program_cycle_s=cycle_s,
        program_offset_s=float(getattr(program, "_offset", 0) or 0),
        crossings=crossings,
    )


def _links(tls: sumolib.net.TLS) -> list[SignalLink]:
    links: dict[int, SignalLink] = {}
    for in_lane, out_lane, index in tls.getConnections():
        direction = "s"
        for conn in in_lane.getOutgoing():
            if conn.getToLane() is out_lane and conn.getTLLinkIndex() == index:
                direction = conn.getDirection()
                break
        links.setdefault(
            index,
            SignalLink(
                index=index,
                from_lane=in_lane.getID(),
                to_lane=out_lane.getID(),
                approach=in_lane.getEdge().getID(),
                turn=_TURNS.get(direction, "through"),
            ),
        )
    return [links[i] for i in sorted(links)]


def _movements(links: list[SignalLink]) -> list[Movement]:
    groups: dict[tuple[str, Turn], list[SignalLink]] = defaultdict(list)
    for link in links:
        groups[(link.approach, link.turn)].append(link)
    return [
        Movement(
            id=f"{approach}:{turn}",
            approach=approach,
            turn=turn,
            link_indices=tuple(link.index for link in group),
            from_lanes=tuple(dict.fromkeys(link.from_lane for link in group)),
            to_edges=tuple(dict.fromkeys(link.to_lane.rsplit("_", 1)[0] for link in group)),
        )
        for (approach, turn), group in groups.items()
    ]

"""NEMA phase numbers for the movements of an intersection, as an engineer would number them.

An event log speaks of NEMA phases (1-16), while an :class:`~optimizer.intersection.IntersectionModel`
has signal links grouped into movements and green stages. Traffic engineers number the phases
of a four-leg intersection by convention (ring 1: 1 2 | 3 4, ring 2: 5 6 | 7 8):

* the **major street** (the axis whose approaches have the most lanes; ties: the axis green in
  the program's first phase) gets through phases 2 and 6, the **minor street** 4 and 8;
* on each axis the approach travelling east- or northbound (heading in [-45°, 135°)) gets the
  lower number (2, 4), the opposite approach the higher (6, 8);
* a **protected left** gets the phase that conventionally opposes its own through: the left of
  approach 2 is 5, of 6 is 1, of 4 is 7, of 8 is 3 (so 1+6 and 2+5 share an approach);
* right turns, U-turns and permissive-only lefts belong to their approach's through phase;
* approaches beyond the four slots (five-leg junctions, two approaches in the same direction)
  get the next free numbers from 9 to 16.

A left movement is protected when some program phase shows it ``G`` without its approach's
through links green, as netconvert's protected left phases (``tls.left-green.time``) do; it is
"green" only while it shows ``G``, the ``g`` of its permissive period is not its phase.

A NEMA-typed SUMO program names its phases by NEMA number already (:mod:`sumo_scenarios.nema`);
the convention here is for the static/actuated programs netconvert writes and real networks
carry.

Example::

    phases = nema_phases(model, headings_deg={"W_J0": 0.0, "J1_J0": 180.0, ...})
    phases[2].signal_links      # the links whose colour is phase 2's colour
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from optimizer.intersection import IntersectionModel, Movement

MAX_PHASE = 16
_LEFT_OF = {2: 5, 6: 1, 4: 7, 8: 3}
_THROUGH_SLOTS = ((2, 6), (4, 8))  # (major axis), (minor axis): (east/northbound, opposite)


@dataclass(frozen=True)
class NemaPhase:
    """One NEMA phase of an intersection.

    ``signal_links``: the links whose colour is the phase's colour (an approach's through links,
    or all its links when it has no through); ``protected_only``: green only while they show
    ``G`` (a protected left); ``movements`` and ``lanes`` (incoming lanes, for detectors) it serves.
    """

    number: int
    approach: str
    signal_links: frozenset[int]
    protected_only: bool
    movements: tuple[str, ...]
    lanes: tuple[str, ...]


def nema_phases(model: IntersectionModel, headings_deg: Mapping[str, float]) -> dict[int, NemaPhase]:
    """NEMA phase number -> phase for ``model``; ``headings_deg``: each approach's travel
    direction at its stop line (0 = east, 90 = north). Approaches without a heading are
    numbered after the others."""
    approaches = list(model.approaches)
    if not approaches:
        return {}
    lanes = {a: sorted({link.from_lane for link in model.links if link.approach == a}) for a in approaches}
    major = _major_approach(model, approaches, lanes)
    free = list(range(9, MAX_PHASE + 1))
    taken: set[int] = set()
    through_of: dict[str, int] = {}
    ordered = sorted(approaches, key=lambda a: (a not in headings_deg, approaches.index(a)))
    for approach in ordered:
        slot = None
        if approach in headings_deg and major in headings_deg:
            axis = 0 if _axis_distance(headings_deg[approach], headings_deg[major]) < 45.0 else 1
            slot = _THROUGH_SLOTS[axis][0 if _east_or_north(headings_deg[approach]) else 1]
        if slot is None or slot in taken:
            slot = free.pop(0) if free else None
        if slot is None:
            continue  # more than 16 phases' worth of approaches: the rest go unlogged
        taken.add(slot)
        through_of[approach] = slot

    phases: dict[int, NemaPhase] = {}
    for approach, through in through_of.items():
        movements = [m for m in model.movements if m.approach == approach]
        lefts = [m for m in movements if m.turn == "left" and _protected(model, m, movements)]
        base = [m for m in movements if m not in lefts]
        through_links = {i for m in base if m.turn == "through" for i in m.link_indices}
        base_links = through_links or {i for m in base for i in m.link_indices}
        if base_links:
            phases[through] = NemaPhase(through, approach, frozenset(base_links), False,
                                        tuple(m.id for m in base), _lanes_of(base, lefts))
        if lefts:
            number = _LEFT_OF.get(through)
            if number is None or number in taken:
                number = free.pop(0) if free else None
            if number is None:
                continue
            taken.add(number)
            links = frozenset(i for m in lefts for i in m.link_indices)
            phases[number] = NemaPhase(number, approach, links, True, tuple(m.id for m in lefts),
                                       tuple(sorted({lane for m in lefts for lane in m.from_lanes})))
    return dict(sorted(phases.items()))


def _major_approach(model: IntersectionModel, approaches: list[str], lanes: Mapping[str, list[str]]) -> str:
    """The approach with most lanes; ties go to one green in the program's first phase."""
    first = model.phases[0].green_links if model.phases else frozenset()
    green_first = {link.approach for link in model.links if link.index in first}
    return max(approaches, key=lambda a: (len(lanes[a]), a in green_first, -approaches.index(a)))


def _protected(model: IntersectionModel, left: Movement, movements: list[Movement]) -> bool:
    """Some program phase shows the left ``G`` while its approach's through links are not green."""
    through = {i for m in movements if m.turn == "through" for i in m.link_indices}
    for phase in model.phases:
        if any(phase.state[i] == "G" for i in left.link_indices) and not (through & phase.green_links):
            return True
    return False


def _lanes_of(base: list[Movement], lefts: list[Movement]) -> tuple[str, ...]:
    """Incoming lanes of the base phase: all its lanes except those only protected lefts use."""
    left_only = {lane for m in lefts for lane in m.from_lanes} - {lane for m in base for lane in m.from_lanes}
    return tuple(sorted({lane for m in base for lane in m.from_lanes} - left_only))


def _axis_distance(a_deg: float, b_deg: float) -> float:
    """Angle between two headings' axes (0..90: opposite directions share an axis)."""
    d = abs(a_deg - b_deg) % 180.0
    return min(d, 180.0 - d)


def _east_or_north(heading_deg: float) -> bool:
    return (heading_deg + 45.0) % 360.0 < 180.0

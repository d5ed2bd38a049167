"""The intersection model: signal links, movements, green phases, clearances and conflicts.

This is the shared vocabulary between the network (``sumo_scenarios.network`` derives it
from any SUMO ``.net.xml``), the optimizer (chooses cycle, splits and offsets over its
phases) and the controllers (drive its phases with proper yellow/all-red transitions).

Terms, as traffic engineers use them:

* a **signal link** is one controlled connection from an incoming lane to an outgoing lane,
  numbered like SUMO's tls link index (the position in the signal state string);
* a **movement** groups the links of one approach (incoming edge) with one turn
  (left, through, right, U-turn);
* a **phase** is a green stage of the signal program: the set of links that may go
  (``G`` protected, ``g`` permissive). Yellow and all-red are not phases here; they are the
  **transition** between two phases and are computed from the two green states;
* a **crossing** is a signalised pedestrian crossing; its signal is a position of the state
  string too (``Crossing.index``). Its walk is shown for at least ``walk_s`` (MUTCD: 7 s),
  then flashing don't-walk (the crossing shows red, persons on it finish) for
  ``clearance_s`` = crossing length / 1.07 m/s (MUTCD's walking speed) before any conflicting
  vehicle may get green: a phase whose crossing shows walk runs at least
  :meth:`IntersectionModel.pedestrian_time_s`;
* two links **conflict** when no green phase of the network's own program lets them go
  together. The engineer's program is the authority on compatibility: any state we drive is
  checked against it (see :func:`IntersectionModel.unsafe_pairs`).

Example::

    model = load_intersections("cologne1.net.xml")["GS_cluster_357187_359543"]
    for state, duration_s in model.transition(0, 1):
        ...  # yellow then all-red, then phase 1's green state
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Turn = Literal["left", "through", "right", "uturn"]

GREEN_CHARS = frozenset("Gg")

MIN_WALK_S = 7.0
"""Shortest walk interval (MUTCD 4E.06: at least 7 s)."""
WALKING_SPEED_M_S = 1.07
"""Walking speed that times the pedestrian clearance (MUTCD 4E.06: 3.5 ft/s)."""


@dataclass(frozen=True)
class Crossing:
    """A signalised pedestrian crossing: its signal index (position in the state string),
    SUMO's crossing edge, its length, the road edges it crosses and the areas at its ends
    where persons wait for the walk (SUMO walking areas)."""

    index: int
    edge: str
    length_m: float
    crossed_edges: tuple[str, ...] = ()
    waiting_areas: tuple[str, ...] = ()

    @property
    def walk_s(self) -> float:
        return MIN_WALK_S

    @property
    def clearance_s(self) -> float:
        """Flashing don't-walk: the crossing's length at the MUTCD walking speed."""
        return self.length_m / WALKING_SPEED_M_S


@dataclass(frozen=True)
class SignalLink:
    """One signalised connection. ``index`` is the position in the SUMO state string."""

    index: int
    from_lane: str
    to_lane: str
    approach: str
    turn: Turn


@dataclass(frozen=True)
class Movement:
    """All links of one approach that make the same turn, e.g. ``"e12:left"``."""

    id: str
    approach: str
    turn: Turn
    link_indices: tuple[int, ...]
    from_lanes: tuple[str, ...]
    to_edges: tuple[str, ...]


@dataclass(frozen=True)
class Phase:
    """A green phase: the SUMO state shown while it is green, with its timing bounds.

    ``duration_s`` is the green time in the network's own program; ``min_green_s`` and
    ``max_green_s`` bound any green time a controller or plan may give it.
    """

    index: int
    state: str
    duration_s: float
    min_green_s: float
    max_green_s: float
    movements: tuple[str, ...] = ()

    @property
    def green_links(self) -> frozenset[int]:
        return frozenset(i for i, c in enumerate(self.state) if c in GREEN_CHARS)


@dataclass(frozen=True)
class IntersectionModel:
    """Everything a controller or optimizer needs to know about one signalised intersection.

    ``yellow_s`` and ``all_red_s`` are the clearance times inserted between any two phases;
    ``program_cycle_s``/``program_offset_s`` describe the network's own fixed-time program.
    """

    tls_id: str
    links: tuple[SignalLink, ...]
    movements: tuple[Movement, ...]
    phases: tuple[Phase, ...]
    yellow_s: float
    all_red_s: float
    program_cycle_s: float
    program_offset_s: float = 0.0
    crossings: tuple[Crossing, ...] = ()

    @property
    def state_length(self) -> int:
        return len(self.phases[0].state) if self.phases else 0

    @cached_property
    def incoming_lanes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(link.from_lane for link in self.links))

    @cached_property
    def outgoing_lanes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(link.to_lane for link in self.links))

    @cached_property
    def approaches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(link.approach for link in self.links))

    @cached_property
    def compatible_pairs(self) -> frozenset[tuple[int, int]]:
        """Link pairs (i < j) that some green phase of the program shows green together."""
        pairs: set[tuple[int, int]] = set()
        for phase in self.phases:
            greens = sorted(phase.green_links)
            pairs.update((a, b) for k, a in enumerate(greens) for b in greens[k + 1 :])
        return frozenset(pairs)

    @cached_property
    def conflicts(self) -> frozenset[tuple[int, int]]:
        """Link pairs (i < j) that must never be green together."""
        served = sorted(set().union(*(p.green_links for p in self.phases))) if self.phases else []
        return frozenset(
            (a, b)
            for k, a in enumerate(served)
            for b in served[k + 1 :]
            if (a, b) not in self.compatible_pairs
        )

    def unsafe_pairs(self, state: str) -> list[tuple[int, int]]:
        """Conflicting link pairs that ``state`` shows green together (empty when safe)."""
        greens = sorted(i for i, c in enumerate(state) if c in GREEN_CHARS)
        return [
            (a, b)
            for k, a in enumerate(greens)
            for b in greens[k + 1 :]
            if (a, b) in self.conflicts
        ]

    def transition(self, from_phase: int, to_phase: int) -> list[tuple[str, float]]:
        """Clearance states between two green phases, as ``(state, duration_s)`` pairs.

        Links green in both phases keep their green; links losing green show yellow for
        ``yellow_s``, then red during an all-red of ``all_red_s``. The all-red clears the
        junction for links turning green, so it is omitted when none does (e.g. from a
        through phase to the protected left that was already permitted in it, as in
        netconvert's programs) or when ``all_red_s`` is zero.
        Returns an empty list when the phases are the same.
        """
        if from_phase == to_phase:
            return []
        a, b = self.phases[from_phase].state, self.phases[to_phase].state
        kept = [ca in GREEN_CHARS and cb in GREEN_CHARS for ca, cb in zip(a, b)]
        yellow = "".join(
            ca if keep else ("y" if ca in GREEN_CHARS else "r") for ca, keep in zip(a, kept)
        )
        steps = [(yellow, self.yellow_s)] if yellow != a else []
        newly_green = any(cb in GREEN_CHARS and ca not in GREEN_CHARS for ca, cb in zip(a, b))
        if self.all_red_s > 0 and newly_green:
            steps.append((self.all_red_state(from_phase, to_phase), self.all_red_s))
        return steps

    def all_red_state(self, from_phase: int, to_phase: int) -> str:
        """The all-red between two phases: links green in both keep their green, all else red."""
        a, b = self.phases[from_phase].state, self.phases[to_phase].state
        return "".join(ca if ca in GREEN_CHARS and cb in GREEN_CHARS else "r" for ca, cb in zip(a, b))

    def clearance_s(self, from_phase: int, to_phase: int) -> float:
        """Total lost time (yellow + all-red) between two phases."""
        return sum(d for _, d in self.transition(from_phase, to_phase))

    def phase_crossings(self, phase: int) -> tuple[Crossing, ...]:
        """The crossings ``phase`` shows walk on (green in its state)."""
        green = self.phases[phase].green_links
        return tuple(c for c in self.crossings if c.index in green)

    def pedestrian_time_s(self, phase: int) -> float:
        """Walk + pedestrian clearance of ``phase``'s crossings (the longest; 0 without any):
        the shortest green of the phase once its walk is shown."""
        return max((c.walk_s + c.clearance_s for c in self.phase_crossings(phase)), default=0.0)

    def movement(self, movement_id: str) -> Movement:
        for m in self.movements:
            if m.id == movement_id:
                return m
        raise KeyError(movement_id)

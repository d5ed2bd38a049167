"""Signal states and detector actuations in, Indiana hi-res events out.

The recorder watches what a signal shows (its SUMO state string, one per time step) and what
its detectors see, and logs what a NEMA controller would log for it: it never takes part in a
decision. Per NEMA phase (:mod:`controllers.hires.nema_numbers`) the colour is green while any of its
signal links is green (``G`` only, for a protected left), yellow while any is yellow (for a
protected left, only the yellow after its own green), red otherwise; each change is logged:

=============  ===================================================================================
green begins   1 (begin green)
green ends     the termination (4 gap-out, 5 max-out or 6 force-off), 7 (green termination), then 8
               (begin yellow) when a yellow follows
yellow ends    9 (end yellow), 10 (begin red clearance)
walk           21 (begin walk) while a crossing of the phase's pedestrian phase shows green, 22
               (begin pedestrian clearance) when it turns red, 23 (solid don't walk) when the
               vehicle phase's green ends
red clearance  11 (end red clearance) when the next green at the intersection begins (1 ms after
               the 10 when that green begins as the yellow ends, so the two keep their order)
=============  ===================================================================================

The termination is read from the outcome, as an engineer reads a log: a green that ran to its
maximum (within ``MAX_OUT_TOLERANCE_S``) is a max-out; under fixed-time control (``fixed_time``)
every other end is a force-off (the plan's split ended it); otherwise a green that ended after
its stop-bar presence detectors had been empty for ``gap_s`` is a gap-out, and one that ended
with a vehicle there or still arriving is a force-off (the controller took the green elsewhere).

Detector channel changes are logged as 82 (on) / 81 (off) at their own time; a presence
detector turning on while its phase is not green registers a call (43); the call drops (44) once
the phase is green and its presence zones are empty (at the latest when the green ends with
them empty), so a call still standing when a green ends carries over to the next green, as the
``atspm`` phase-wait measure reads calls. Plan changes
(:meth:`DeviceRecorder.plan`) are logged as 131 (pattern), 132 (cycle, s) and 133 (offset, s).
Emergency preemption and transit priority, as the controller reports them
(:meth:`DeviceRecorder.priority`, the preempt/TSP input numbered by approach): 102 (preempt
call on) and 105 (entry started) when it begins, 107 (begin dwell) when the vehicle's phase
shows green, 104 (call off) when it ends; 112 (TSP check-in) with 113 (early green) or 114
(extended green), and 115 (check-out).

Example::

    rec = DeviceRecorder(1, phases, {2: 60.0, ...}, detectors, fixed_time=True)
    rec.detector(12.4, channel=3, on=True)
    rec.signal(13.0, "rrrGGGgrrrGGGg")
    rec.events      # [Event(12.4, 1, 82, 3), ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controllers.hires.enumerations import EventId
from controllers.hires.nema_numbers import NemaPhase

GAP_S = 3.0
"""Passage time: a green ending after this long without a vehicle at the stop bar gapped out."""

MAX_OUT_TOLERANCE_S = 1.0
"""A green within this of its maximum (one simulation step) ran to its maximum."""

ZERO_INTERVAL_S = 0.001

PRESENCE, ADVANCE, YELLOW_RED = "Presence", "Advance", "Yellow_Red"
DETECTOR_FUNCTIONS = (PRESENCE, ADVANCE, YELLOW_RED)


@dataclass(frozen=True, order=True)
class Event:
    """One row of the log: ``time_s`` in simulation (or epoch) seconds."""

    time_s: float
    device_id: int
    event_id: int
    parameter: int


@dataclass(frozen=True)
class Detector:
    """A detector channel of a device: the NEMA phase it serves and its ATSPM function."""

    channel: int
    phase: int
    function: str


@dataclass
class _PhaseState:
    colour: str = ""  # "G", "Y", "R"; "" until the first state is seen
    green_since_s: float = 0.0
    in_red_clearance: bool = False
    red_clearance_since_s: float = 0.0
    call: bool = False
    presence_on: int = 0
    presence_off_since_s: float = float("-inf")


@dataclass
class DeviceRecorder:
    """The event log of one signal (``device_id``); see the module docstring.

    ``phases``: NEMA number -> phase; ``max_green_s``: per NEMA phase, the longest green its
    controller may give (for max-outs); ``detectors``: channel -> detector.
    """

    device_id: int
    phases: Mapping[int, NemaPhase]
    max_green_s: Mapping[int, float]
    detectors: Mapping[int, Detector]
    fixed_time: bool = False
    gap_s: float = GAP_S
    crossings: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    _walk: dict[int, bool] = field(default_factory=dict)
    _ped_clearing: set[int] = field(default_factory=set)
    _state: dict[int, _PhaseState] = field(default_factory=dict)
    _plan: tuple[int, int, int] | None = None
    _on: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._state = {p: _PhaseState() for p in self.phases}

    def _log(self, time_s: float, event: EventId, parameter: int) -> None:
        self.events.append(Event(round(time_s, 3), self.device_id, int(event), int(parameter)))

    # --- inputs -------------------------------------------------------------------------
    def plan(self, time_s: float, pattern: int, cycle_s: float, offset_s: float) -> None:
        """The running pattern; logged when it differs from the last one."""
        plan = (int(pattern), int(round(cycle_s)), int(round(offset_s)))
        if plan == self._plan:
            return
        self._plan = plan
        self._log(time_s, EventId.COORD_PATTERN_CHANGE, plan[0])
        self._log(time_s, EventId.CYCLE_LENGTH_CHANGE, plan[1])
        self._log(time_s, EventId.OFFSET_LENGTH_CHANGE, plan[2])

    def priority(self, time_s: float, event: EventId, number: int) -> None:
        """A preemption (102, 104, 105, 107) or transit-priority (112-115) event of the
        preempt or TSP input ``number`` (this recorder does not derive them from the signals:
        the controller that served the vehicle reports them)."""
        self._log(time_s, event, number)

    def detector(self, time_s: float, channel: int, on: bool) -> None:
        """Detector ``channel`` turned on or off at ``time_s``; repeated states are ignored."""
        if (channel in self._on) == on or channel not in self.detectors:
            return
        (self._on.add if on else self._on.discard)(channel)
        self._log(time_s, EventId.DETECTOR_ON if on else EventId.DETECTOR_OFF, channel)
        det = self.detectors[channel]
        state = self._state.get(det.phase)
        if det.function != PRESENCE or state is None:
            return
        if on:
            state.presence_on += 1
            if state.colour != "G" and not state.call:
                state.call = True
                self._log(time_s, EventId.PHASE_CALL_REGISTERED, det.phase)
        else:
            state.presence_on -= 1
            if state.presence_on == 0:
                state.presence_off_since_s = time_s
                if state.colour == "G" and state.call:  # the waiting vehicles have been served
                    state.call = False
                    self._log(time_s, EventId.PHASE_CALL_DROPPED, det.phase)

    def signal(self, time_s: float, state: str) -> None:
        """The signal shows ``state`` (SUMO link characters) from ``time_s`` on."""
        colours = {}
        for number, phase in self.phases.items():
            colour = _colour(phase, state)
            if colour == "Y" and phase.protected_only and self._state[number].colour not in ("G", "Y"):
                colour = "R"  # the yellow ending a permissive left is its through's change, not this phase's
            colours[number] = colour
        starting = {n for n, c in colours.items() if c == "G" and self._state[n].colour not in ("", "G")}
        for number in starting:  # a phase back to green ends its own red clearance just before
            self._end_red_clearance(number, time_s - ZERO_INTERVAL_S)
        for number, colour in colours.items():
            ps = self._state[number]
            before, ps.colour = ps.colour, colour
            if before == "" or before == colour:
                continue  # first sight sets the state silently: no event for what began before
            if colour == "G":
                self._log(time_s, EventId.PHASE_BEGIN_GREEN, number)
                ps.green_since_s = time_s
                continue
            if before == "G":
                self._log(time_s, self._termination(number, time_s), number)
                self._log(time_s, EventId.PHASE_GREEN_TERMINATION, number)
                if ps.call and ps.presence_on == 0:
                    ps.call = False
                    self._log(time_s, EventId.PHASE_CALL_DROPPED, number)
                if colour == "Y":
                    self._log(time_s, EventId.PHASE_BEGIN_YELLOW, number)
            elif before == "Y" and colour == "R":
                self._log(time_s, EventId.PHASE_END_YELLOW, number)
                self._log(time_s, EventId.PHASE_BEGIN_RED_CLEARANCE, number)
                ps.in_red_clearance, ps.red_clearance_since_s = True, time_s
        if starting:  # the next green ends every red clearance under way
            for number in self._state:
                self._end_red_clearance(number, time_s)
        self._pedestrians(time_s, state)

    def _pedestrians(self, time_s: float, state: str) -> None:
        """Walk (21) while a crossing of the pedestrian phase shows green; its end begins the
        pedestrian clearance (22), which lasts until its vehicle phase's green ends (23)."""
        for number, links in self.crossings.items():
            walk = any(state[i] in "Gg" for i in links if i < len(state))
            before = self._walk.get(number)
            self._walk[number] = walk
            if before is not None and walk != before:
                if walk:
                    self._ped_clearing.discard(number)
                    self._log(time_s, EventId.PED_BEGIN_WALK, number)
                else:
                    self._ped_clearing.add(number)
                    self._log(time_s, EventId.PED_BEGIN_CLEARANCE, number)
            if number in self._ped_clearing and self._state.get(number, _PhaseState("R")).colour != "G":
                self._ped_clearing.discard(number)
                self._log(time_s, EventId.PED_BEGIN_SOLID_DONT_WALK, number)

    def _end_red_clearance(self, number: int, time_s: float) -> None:
        """Log 11 for ``number`` if it is in red clearance. A red clearance of zero (the next green
        begins as the yellow ends) is logged 1 ms long, and a phase's own 11 just before its 1:
        readers pairing events by time stamp, and ordering ties by event id, keep them in order."""
        ps = self._state[number]
        if ps.in_red_clearance:
            ps.in_red_clearance = False
            self._log(max(time_s, ps.red_clearance_since_s + ZERO_INTERVAL_S), EventId.PHASE_END_RED_CLEARANCE, number)

    def _termination(self, number: int, time_s: float) -> EventId:
        ps = self._state[number]
        if time_s - ps.green_since_s >= self.max_green_s.get(number, float("inf")) - MAX_OUT_TOLERANCE_S:
            return EventId.PHASE_MAX_OUT
        if self.fixed_time:
            return EventId.PHASE_FORCE_OFF
        has_presence = any(d.phase == number and d.function == PRESENCE for d in self.detectors.values())
        if has_presence and ps.presence_on == 0 and time_s - ps.presence_off_since_s >= self.gap_s:
            return EventId.PHASE_GAP_OUT
        return EventId.PHASE_FORCE_OFF


def _colour(phase: NemaPhase, state: str) -> str:
    chars = [state[i] for i in phase.signal_links if i < len(state)]
    if any(c == "G" or (c == "g" and not phase.protected_only) for c in chars):
        return "G"
    if any(c in "yY" for c in chars):
        return "Y"
    return "R"

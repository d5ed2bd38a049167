"""The Indiana high-resolution event codes phasewise writes.

From "Indiana Traffic Signal Hi Resolution Data Logger Enumerations" (Sturdevant et al.,
Purdue University / INDOT, 2012), the ``EventId`` of each row of a controller's event log;
``Parameter`` is the phase number, detector channel, pattern number or value named here.
"""

from __future__ import annotations

from enum import IntEnum


class EventId(IntEnum):
    """Event codes; the comment says what ``Parameter`` holds."""

    PHASE_BEGIN_GREEN = 1  # phase
    PHASE_GAP_OUT = 4  # phase
    PHASE_MAX_OUT = 5  # phase
    PHASE_FORCE_OFF = 6  # phase
    PHASE_GREEN_TERMINATION = 7  # phase
    PHASE_BEGIN_YELLOW = 8  # phase
    PHASE_END_YELLOW = 9  # phase
    PHASE_BEGIN_RED_CLEARANCE = 10  # phase
    PHASE_END_RED_CLEARANCE = 11  # phase
    PED_BEGIN_WALK = 21  # phase (the pedestrian phase of a vehicle phase has its number)
    PED_BEGIN_CLEARANCE = 22  # phase
    PED_BEGIN_SOLID_DONT_WALK = 23  # phase
    PHASE_CALL_REGISTERED = 43  # phase
    PHASE_CALL_DROPPED = 44  # phase
    DETECTOR_OFF = 81  # detector channel
    DETECTOR_ON = 82  # detector channel
    PREEMPT_CALL_INPUT_ON = 102  # preempt number
    PREEMPT_CALL_INPUT_OFF = 104  # preempt number
    PREEMPT_ENTRY_STARTED = 105  # preempt number
    PREEMPT_BEGIN_DWELL = 107  # preempt number (the preempting vehicle's phase shows green)
    TSP_CHECK_IN = 112  # TSP number
    TSP_EARLY_GREEN = 113  # TSP number
    TSP_EXTEND_GREEN = 114  # TSP number
    TSP_CHECK_OUT = 115  # TSP number
    COORD_PATTERN_CHANGE = 131  # pattern number (FREE_PATTERN: not coordinated)
    CYCLE_LENGTH_CHANGE = 132  # cycle length, s (0: free)
    OFFSET_LENGTH_CHANGE = 133  # offset, s


FREE_PATTERN = 254
"""Pattern number logged when the signal runs free (no cycle), as controllers log "free"."""

TERMINATIONS = (EventId.PHASE_GAP_OUT, EventId.PHASE_MAX_OUT, EventId.PHASE_FORCE_OFF)

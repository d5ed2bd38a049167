"""A timing plan as an NTCIP 1202 coordination pattern: pattern row plus split table.

:func:`pattern_values` turns one :class:`~optimizer.plan.IntersectionPlan` into the values a
NEMA controller stores for a pattern:

* ``patternCycleTime`` = the plan's cycle, ``patternOffsetTime`` = its offset (mod cycle),
  ``patternSplitNumber`` = the split table row used;
* per NEMA phase of the intersection, ``splitTime`` = the split (green + yellow + all-red) of
  the model phase it serves, ``splitMode`` = ``none`` (served as actuated within its split)
  or ``phaseOmitted`` for a phase the plan's sequence does not serve, and
  ``splitCoordPhase`` = 1 on the NEMA phases of the coordinated phase.

Offsets: the plan's ``offset_s`` is when the coordinated phase's green starts, from time 0
of the common clock; written as ``patternOffsetTime`` it assumes the controllers' time
bases are synchronised to that clock and that their coordination sync point
(``unitCoordSyncPoint``) is the start of the coordinated green (a site with end-of-green
sync needs the coordinated green subtracted; not handled yet).

The MIB stores whole seconds (``splitTime``, ``patternCycleTime`` are 0..255 s), so model
splits are rounded by largest remainder: they still add up to the rounded cycle, and none
is rounded below the phase's minimum green plus its clearance (a controller refuses such a
pattern: ``localFreeStatus`` badCycleTime).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from controllers.ntcip import oids
from optimizer.plan import TOLERANCE_S, IntersectionPlan
from phasewise_errors import PlanError

Oid = tuple[int, ...]
ROUNDING_S = 1e-6  # float slack when a minimum is a whole number of seconds


class PhaseMap(Protocol):
    """Model phase <-> NEMA phases for one intersection (``controllers.ntcip.nema`` builds it)."""

    @property
    def nema_phases_used(self) -> tuple[int, ...]: ...

    def nema_phases(self, model_phase: int) -> tuple[int, ...]: ...

    def model_phase(self, green_nema_phases: frozenset[int]) -> int | None: ...


@dataclass(frozen=True)
class PatternValues:
    """Everything :func:`pattern_values` writes for one pattern, as MIB values."""

    pattern: int
    split: int
    cycle_s: int
    offset_s: int
    split_time_s: Mapping[int, int]
    split_mode: Mapping[int, oids.SplitMode]
    coord_phases: frozenset[int]

    def varbinds(self) -> dict[Oid, int]:
        """Instance OID -> value, each checked against the MIB range (``PlanError`` if out)."""
        values: dict[Oid, int] = {}

        def put(obj: oids.MibObject, index: Sequence[int], value: int) -> None:
            try:
                values[obj.instance(*index)] = obj.check(int(value))
            except ValueError as exc:
                raise PlanError(f"pattern {self.pattern}: {exc}") from None

        put(oids.PATTERN_CYCLE_TIME, (self.pattern,), self.cycle_s)
        put(oids.PATTERN_OFFSET_TIME, (self.pattern,), self.offset_s)
        put(oids.PATTERN_SPLIT_NUMBER, (self.pattern,), self.split)
        for phase, split_s in sorted(self.split_time_s.items()):
            put(oids.SPLIT_TIME, (self.split, phase), split_s)
            put(oids.SPLIT_MODE, (self.split, phase), int(self.split_mode[phase]))
            put(oids.SPLIT_COORD_PHASE, (self.split, phase), int(phase in self.coord_phases))
        return values


def rounded_splits_s(splits_s: Sequence[float], minimum_s: Sequence[int] | None = None) -> list[int]:
    """Whole-second splits adding up to the rounded total, none below ``minimum_s``.

    Largest remainder: every split starts at its floor (or its minimum if higher), then the
    seconds still missing go to the largest remainders; seconds in excess (minimums raised)
    come off the splits furthest above their exact value that can spare one.
    """
    total = round(sum(splits_s))
    minimum = list(minimum_s) if minimum_s is not None else [0] * len(splits_s)
    whole = [max(math.floor(s), m) for s, m in zip(splits_s, minimum)]
    while sum(whole) < total:
        k = max(range(len(whole)), key=lambda i: splits_s[i] - whole[i])
        whole[k] += 1
    while sum(whole) > total:
        spare = [i for i in range(len(whole)) if whole[i] > minimum[i]]
        if not spare:
            break  # the minimums alone exceed the cycle: the plan cannot be run as given
        k = max(spare, key=lambda i: whole[i] - splits_s[i])
        whole[k] -= 1
    return whole


def pattern_values(plan: IntersectionPlan, phase_map: PhaseMap, pattern: int, split: int) -> PatternValues:
    """The pattern ``pattern`` (split row ``split``) that runs ``plan`` on this intersection."""
    if pattern not in oids.PATTERN_NUMBERS:
        raise PlanError(f"{plan.tls_id}: pattern {pattern} is not a pattern number (1..253)")
    # the controller refuses a split below min green + clearance: never round below it
    for p in plan.phases:
        if p.green_s < p.required_green_s - TOLERANCE_S:
            raise PlanError(f"{plan.tls_id}: phase {p.phase} green {p.green_s:g} s is below its minimum "
                            f"{p.required_green_s:g} s")
    minimum = [math.ceil(p.required_green_s + p.yellow_s + p.all_red_s - ROUNDING_S) for p in plan.phases]
    whole = rounded_splits_s([p.split_s for p in plan.phases], minimum)
    cycle_s = sum(whole)
    split_by_nema: dict[int, int] = {}
    for timing, split_s in zip(plan.phases, whole):
        for nema in phase_map.nema_phases(timing.phase):
            split_by_nema[nema] = split_by_nema.get(nema, 0) + split_s
    modes = {}
    for nema in phase_map.nema_phases_used:
        modes[nema] = oids.SplitMode.NONE if nema in split_by_nema else oids.SplitMode.PHASE_OMITTED
        split_by_nema.setdefault(nema, 0)
    coord = frozenset(phase_map.nema_phases(plan.coordinated_phase))
    if not coord:
        raise PlanError(f"{plan.tls_id}: coordinated phase {plan.coordinated_phase} has no NEMA phase")
    return PatternValues(
        pattern=pattern,
        split=split,
        cycle_s=cycle_s,
        offset_s=round(plan.offset_s) % cycle_s if cycle_s else 0,
        split_time_s=split_by_nema,
        split_mode=modes,
        coord_phases=coord,
    )

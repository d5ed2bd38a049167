"""The emulated controller's database: phase, pattern and split tables, and the pattern check.

The downloadable part of an NTCIP 1202 controller, in the MIB's own units (seconds, or tenths
where a field ends in ``_ds``), as :class:`~controllers.ntcip.cabinet.Cabinet` keeps it:
``phaseTable`` rows (:class:`PhaseRow`), ``patternTable`` rows (:class:`PatternRow`) and
``splitTable`` rows (:class:`SplitRow`). :func:`check_pattern` is what a controller does when a
pattern is selected (or a database transaction verified): it runs it (a :class:`CoordPlan`) or
refuses it with the ``localFreeStatus`` a controller reports.

Stages: our mapping (``controllers.ntcip.nema``) groups NEMA phases into stages (model phases);
a stage's min green / clearance is the longest of its phases', its split the longest of its
phases' splits, and the stages served must add up to the cycle as each ring must.

Example::

    plan, why = check_pattern(2, cabinet.db, cabinet.mapping)   # (None, BAD_PLAN) if refused
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from controllers.ntcip.nema import NemaMapping
from controllers.ntcip.oids import LocalFreeStatus, SplitMode
from phasewise_errors import ControllerError

EPS_S = 1e-6
MAX_PATTERNS = 16
MAX_SPLITS = 16

_RECALL_MODES = {
    SplitMode.MINIMUM_VEHICLE_RECALL,
    SplitMode.MAXIMUM_VEHICLE_RECALL,
    SplitMode.PEDESTRIAN_RECALL,
    SplitMode.MAXIMUM_VEHICLE_AND_PEDESTRIAN_RECALL,
}
_MAX_RECALL_MODES = {SplitMode.MAXIMUM_VEHICLE_RECALL, SplitMode.MAXIMUM_VEHICLE_AND_PEDESTRIAN_RECALL}
_PED_RECALL_MODES = {SplitMode.PEDESTRIAN_RECALL, SplitMode.MAXIMUM_VEHICLE_AND_PEDESTRIAN_RECALL}


class SetRefused(ControllerError):
    """A SET the controller refuses; ``error_status`` is the SNMP error it answers with."""

    def __init__(self, error_status: str, message: str) -> None:
        super().__init__(message)
        self.error_status = error_status  # wrongValue | notWritable | noSuchName | inconsistentValue


@dataclass
class PhaseRow:
    """One ``phaseTable`` row in NTCIP units (s, or 0.1 s where named ``_ds``)."""

    min_green_s: int = 5
    passage_ds: int = 30
    max1_s: int = 40
    max2_s: int = 60
    yellow_ds: int = 30
    red_clear_ds: int = 10
    walk_s: int = 0
    ped_clear_s: int = 0


@dataclass
class PatternRow:
    cycle_s: int = 0
    offset_s: int = 0
    split: int = 0
    sequence: int = 1


@dataclass
class SplitRow:
    time_s: int = 0
    mode: int = int(SplitMode.NONE)
    coord: int = 0


@dataclass
class Database:
    """The downloadable part of the controller: phase, pattern and split tables."""

    phases: dict[int, PhaseRow]
    patterns: dict[int, PatternRow] = field(default_factory=dict)
    splits: dict[tuple[int, int], SplitRow] = field(default_factory=dict)

    def copy(self) -> Database:
        return Database(
            {k: replace(v) for k, v in self.phases.items()},
            {k: replace(v) for k, v in self.patterns.items()},
            {k: replace(v) for k, v in self.splits.items()},
        )


@dataclass(frozen=True)
class CoordPlan:
    """A checked pattern as the stage timer runs it (seconds on the cycle timer)."""

    pattern: int
    cycle_s: float
    offset_s: float
    order: tuple[int, ...]  # served stages, coordinated stage first
    window: dict[int, tuple[float, float]]  # stage -> (green start, force-off point)
    coord_stage: int
    recall: frozenset[int]
    max_recall: frozenset[int]
    ped_recall: frozenset[int] = frozenset()


PHASE_FIELDS = {
    "phaseMinimumGreen": "min_green_s",
    "phasePassage": "passage_ds",
    "phaseMaximum1": "max1_s",
    "phaseMaximum2": "max2_s",
    "phaseYellowChange": "yellow_ds",
    "phaseRedClear": "red_clear_ds",
    "phaseWalk": "walk_s",
    "phasePedestrianClear": "ped_clear_s",
}
PATTERN_FIELDS = {
    "patternCycleTime": "cycle_s",
    "patternOffsetTime": "offset_s",
    "patternSplitNumber": "split",
    "patternSequenceNumber": "sequence",
}
SPLIT_FIELDS = {"splitTime": "time_s", "splitMode": "mode", "splitCoordPhase": "coord"}


def stage_min_green_s(db: Database, mapping: NemaMapping, stage: int) -> float:
    """Minimum green of a stage: the longest ``phaseMinimumGreen`` of its NEMA phases."""
    return float(max(db.phases[p].min_green_s for p in mapping.nema_phases(stage)))


def stage_clearance_s(db: Database, mapping: NemaMapping, stage: int) -> float:
    """Yellow + red clearance after a stage (the longest of its NEMA phases')."""
    rows = [db.phases[p] for p in mapping.nema_phases(stage)]
    return max(r.yellow_ds for r in rows) / 10 + max(r.red_clear_ds for r in rows) / 10


def check_pattern(number: int, db: Database, mapping: NemaMapping) -> tuple[CoordPlan | None, LocalFreeStatus]:
    """The pattern as the stage timer runs it, or ``(None, why)`` when the unit refuses it."""
    row = db.patterns.get(number)
    if row is None or row.cycle_s == 0:
        return None, LocalFreeStatus.COMMAND_FREE
    if row.offset_s >= row.cycle_s:
        return None, LocalFreeStatus.INVALID_OFFSET
    splits = {p: db.splits.get((row.split, p), SplitRow()) for p in mapping.nema_phases_used}
    omitted = {p for p, s in splits.items() if s.mode == SplitMode.PHASE_OMITTED or s.time_s == 0}
    coord_phases = {p for p, s in splits.items() if s.coord and p not in omitted}
    served = [k for k in mapping.ring_sequence() if not set(mapping.nema_phases(k)) & omitted]
    coord = [k for k in served if set(mapping.nema_phases(k)) & coord_phases]
    if not served or not coord:
        return None, LocalFreeStatus.BAD_PLAN
    for r, ring in enumerate(mapping.rings):
        total = sum(splits[p].time_s for p in ring if p not in omitted)
        if total and total != row.cycle_s:
            return None, LocalFreeStatus.BAD_PLAN
    stage_split = {k: max(splits[p].time_s for p in mapping.nema_phases(k)) for k in served}
    if sum(stage_split.values()) != row.cycle_s:
        return None, LocalFreeStatus.BAD_PLAN
    for k in served:
        if stage_split[k] < stage_min_green_s(db, mapping, k) + stage_clearance_s(db, mapping, k) - EPS_S:
            return None, LocalFreeStatus.BAD_CYCLE_TIME
    order = tuple(k for k in mapping.ring_sequence(coord[0]) if k in stage_split)
    window, start = {}, 0.0
    for k in order:
        window[k] = (start, start + stage_split[k] - stage_clearance_s(db, mapping, k))
        start += stage_split[k]
    modes = {k: {SplitMode(splits[p].mode) for p in mapping.nema_phases(k)} for k in order}
    plan = CoordPlan(
        number, float(row.cycle_s), float(row.offset_s), order, window, coord[0],
        frozenset(k for k in order if modes[k] & _RECALL_MODES),
        frozenset(k for k in order if modes[k] & _MAX_RECALL_MODES),
        frozenset(k for k in order if modes[k] & _PED_RECALL_MODES),
    )
    return plan, LocalFreeStatus.NOT_FREE


def read_field(db: Database, name: str, index: tuple[int, ...]) -> int:
    """A phase/pattern/split table value (``SetRefused('noSuchName')`` for a missing row)."""
    if name in PHASE_FIELDS:
        return int(getattr(phase_row(db, index), PHASE_FIELDS[name]))
    if name in PATTERN_FIELDS:
        pattern_index(index)
        return int(getattr(db.patterns.get(index[0], PatternRow()), PATTERN_FIELDS[name]))
    split_index(db, index)
    return int(getattr(db.splits.get((index[0], index[1]), SplitRow()), SPLIT_FIELDS[name]))


def write_field(db: Database, name: str, index: tuple[int, ...], value: int) -> None:
    """Store a phase/pattern/split table value (checked by the caller)."""
    if name in PHASE_FIELDS:
        setattr(phase_row(db, index), PHASE_FIELDS[name], value)
    elif name in PATTERN_FIELDS:
        setattr(db.patterns.setdefault(index[0], PatternRow()), PATTERN_FIELDS[name], value)
    elif name in SPLIT_FIELDS:
        setattr(db.splits.setdefault((index[0], index[1]), SplitRow()), SPLIT_FIELDS[name], value)


def phase_row(db: Database, index: tuple[int, ...]) -> PhaseRow:
    if len(index) != 1 or index[0] not in db.phases:
        raise SetRefused("noSuchName", f"phase {index}: this unit has phases {sorted(db.phases)}")
    return db.phases[index[0]]


def pattern_index(index: tuple[int, ...]) -> None:
    if len(index) != 1 or not 1 <= index[0] <= MAX_PATTERNS:
        raise SetRefused("noSuchName", f"pattern {index}: this unit has patterns 1..{MAX_PATTERNS}")


def split_index(db: Database, index: tuple[int, ...]) -> None:
    if len(index) != 2 or not 1 <= index[0] <= MAX_SPLITS or index[1] not in db.phases:
        raise SetRefused("noSuchName", f"split {index}: splits 1..{MAX_SPLITS} x phases {sorted(db.phases)}")

"""The NTCIP 1202 v03 / 1201 objects phasewise reads and writes, with their MIB syntax.

One :class:`MibObject` per object: its OID (without instance), whether it is a scalar
(instance ``.0``) or a table column (instance = the row index), its access, the value range
or enumeration the MIB gives it, and its units. The manager (``client``, ``backend``) builds
instance OIDs with :meth:`MibObject.instance`; the agent side (``agent``) validates SETs with
:meth:`MibObject.check`. Every object here is an ASN.1 INTEGER but ``dbVerifyError``.

Preempt (asc.6): ``preemptState`` is column 16 of ``preemptTable`` (asc.6.2.1), indexed by
``preemptNumber``; ``preemptControlState`` is column 2 of ``preemptControlTable`` (asc.6.3.1),
a central SET of 1 activating the preempt as its input does (NTCIP 1202 v03 §2.7.2-2.7.3).

Sources, cross-checked: NTCIP 1202 v03 (ASC MIB, node ``asc`` = 1.3.6.1.4.1.1206.4.2.1)
and NTCIP 1201 v03 (global objects, node ``global`` = 1.3.6.1.4.1.1206.4.2.6); the
public compilations of those MIBs in mnit-rtmc/iris (MIB1202/MIB1201) and a pysmi-compiled
ASC MIB. Ranges are the MIB's SYNTAX clauses; units are the DESCRIPTION's.

Phase bit masks (``phaseStatusGroup*``, ``phaseControlGroup*``): group ``g`` covers phases
``8(g-1)+1 .. 8g``; bit ``k`` (value ``1 << k``) is phase ``8(g-1)+k+1``
(:func:`phase_masks`, :func:`phases_in_mask`).

Example::

    GREENS.instance(1)                 # (1,3,6,1,4,1,1206,4,2,1,1,4,1,4,1)
    SPLIT_TIME.instance(2, 4)          # split 2, phase 4
    SYSTEM_PATTERN_CONTROL.check(300)  # ValueError: out of 0..255
    phase_masks([2, 6, 9])             # {1: 0b00100010, 2: 0b00000001}
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Access = Literal["read-only", "read-write"]

ASC = (1, 3, 6, 1, 4, 1, 1206, 4, 2, 1)
"""NTCIP 1202 ``asc`` node (devices.asc)."""
GLOBAL = (1, 3, 6, 1, 4, 1, 1206, 4, 2, 6)
"""NTCIP 1201 ``global`` node."""

PHASES_PER_GROUP = 8


@dataclass(frozen=True)
class MibObject:
    """One NTCIP object: OID, instance shape, access and legal values.

    ``index`` names the table indexes (empty for a scalar, whose instance is ``.0``);
    ``minimum``/``maximum`` the SYNTAX range; ``values`` the enumeration when the SYNTAX is an
    enumerated INTEGER (then the range is not used).
    """

    name: str
    oid: tuple[int, ...]
    access: Access
    minimum: int = 0
    maximum: int = 255
    index: tuple[str, ...] = ()
    units: str = ""
    values: Mapping[str, int] = field(default_factory=dict, hash=False)
    syntax: Literal["INTEGER", "DisplayString"] = "INTEGER"

    @property
    def dotted(self) -> str:
        return ".".join(map(str, self.oid))

    def instance(self, *index: int) -> tuple[int, ...]:
        """The instance OID: ``oid.0`` for a scalar, ``oid.<index...>`` for a column."""
        if len(index) != len(self.index):
            expected = ", ".join(self.index) or "no index"
            raise ValueError(f"{self.name} takes ({expected}), got {index!r}")
        return self.oid + (tuple(index) if self.index else (0,))

    def check(self, value: int) -> int:
        """``value`` if the MIB allows it (in range / one of the enumeration), else ValueError."""
        if self.syntax == "DisplayString":
            raise ValueError(f"{self.name} is a read-only DisplayString")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.name} is an INTEGER, got {value!r}")
        if self.values:
            if value not in self.values.values():
                allowed = ", ".join(f"{k}({v})" for k, v in self.values.items())
                raise ValueError(f"{self.name} = {value} is not one of {allowed}")
        elif not self.minimum <= value <= self.maximum:
            raise ValueError(f"{self.name} = {value} out of {self.minimum}..{self.maximum}")
        return value


def _phase(column: int, name: str, units: str, access: Access = "read-write", lo: int = 0, hi: int = 255) -> MibObject:
    return MibObject(name, ASC + (1, 2, 1, column), access, lo, hi, ("phaseNumber",), units)


def _status_group(column: int, name: str) -> MibObject:
    return MibObject(name, ASC + (1, 4, 1, column), "read-only", 0, 255, ("phaseStatusGroupNumber",), "bit mask")


def _control_group(column: int, name: str) -> MibObject:
    return MibObject(name, ASC + (1, 5, 1, column), "read-write", 0, 255, ("phaseControlGroupNumber",), "bit mask")


# --- phase (asc.1) --------------------------------------------------------------------------
MAX_PHASES = MibObject("maxPhases", ASC + (1, 1), "read-only", 1, 255)
PHASE_WALK = _phase(2, "phaseWalk", "s")
PHASE_PEDESTRIAN_CLEAR = _phase(3, "phasePedestrianClear", "s")
PHASE_MINIMUM_GREEN = _phase(4, "phaseMinimumGreen", "s")
PHASE_PASSAGE = _phase(5, "phasePassage", "0.1 s")
PHASE_MAXIMUM_1 = _phase(6, "phaseMaximum1", "s")
PHASE_MAXIMUM_2 = _phase(7, "phaseMaximum2", "s")
PHASE_YELLOW_CHANGE = _phase(8, "phaseYellowChange", "0.1 s")
PHASE_RED_CLEAR = _phase(9, "phaseRedClear", "0.1 s")
PHASE_RING = _phase(22, "phaseRing", "ring number (0 = phase not used)")
MAX_PHASE_GROUPS = MibObject("maxPhaseGroups", ASC + (1, 3), "read-only", 1, 255)

REDS = PHASE_STATUS_GROUP_REDS = _status_group(2, "phaseStatusGroupReds")
YELLOWS = PHASE_STATUS_GROUP_YELLOWS = _status_group(3, "phaseStatusGroupYellows")
GREENS = PHASE_STATUS_GROUP_GREENS = _status_group(4, "phaseStatusGroupGreens")
DONT_WALKS = PHASE_STATUS_GROUP_DONT_WALKS = _status_group(5, "phaseStatusGroupDontWalks")
PED_CLEARS = PHASE_STATUS_GROUP_PED_CLEARS = _status_group(6, "phaseStatusGroupPedClears")
WALKS = PHASE_STATUS_GROUP_WALKS = _status_group(7, "phaseStatusGroupWalks")
PHASE_STATUS_GROUP_VEH_CALLS = _status_group(8, "phaseStatusGroupVehCalls")
PHASE_STATUS_GROUP_PED_CALLS = _status_group(9, "phaseStatusGroupPedCalls")
PHASE_STATUS_GROUP_PHASE_ONS = _status_group(10, "phaseStatusGroupPhaseOns")
PHASE_STATUS_GROUP_PHASE_NEXTS = _status_group(11, "phaseStatusGroupPhaseNexts")

PHASE_OMIT = PHASE_CONTROL_GROUP_PHASE_OMIT = _control_group(2, "phaseControlGroupPhaseOmit")
PED_OMIT = PHASE_CONTROL_GROUP_PED_OMIT = _control_group(3, "phaseControlGroupPedOmit")
HOLD = PHASE_CONTROL_GROUP_HOLD = _control_group(4, "phaseControlGroupHold")
FORCE_OFF = PHASE_CONTROL_GROUP_FORCE_OFF = _control_group(5, "phaseControlGroupForceOff")
VEH_CALL = PHASE_CONTROL_GROUP_VEH_CALL = _control_group(6, "phaseControlGroupVehCall")
PED_CALL = PHASE_CONTROL_GROUP_PED_CALL = _control_group(7, "phaseControlGroupPedCall")

PHASE_CONTROLS: tuple[MibObject, ...] = (PHASE_OMIT, PED_OMIT, HOLD, FORCE_OFF, VEH_CALL, PED_CALL)


# --- unit (asc.3) ---------------------------------------------------------------------------
class UnitControlStatus(enum.IntEnum):
    """``unitControlStatus``: who decides pattern, free or flash right now."""

    OTHER = 1
    SYSTEM_CONTROL = 2  # master or central commands (us)
    SYSTEM_STANDBY = 3  # central told the unit to use its local control
    BACKUP_MODE = 4  # central commands stopped for unitBackupTime
    MANUAL = 5  # coordOperationalMode != 0
    TIMEBASE = 6  # local time-of-day schedule
    INTERCONNECT = 7
    INTERCONNECT_BACKUP = 8


class UnitFlashStatus(enum.IntEnum):
    """``unitFlashStatus``: whether and why the unit is in flash."""

    OTHER = 1
    NOT_FLASH = 2
    AUTOMATIC = 3
    LOCAL_MANUAL = 4
    FAULT_MONITOR = 5
    MMU = 6
    STARTUP = 7
    PREEMPT = 8


def _enum(cls: type[enum.IntEnum]) -> dict[str, int]:
    return {member.name.lower(): int(member) for member in cls}


UNIT_BACKUP_TIME = MibObject("unitBackupTime", ASC + (3, 3), "read-write", 0, 65535, units="s")
"""Seconds without a central command before the unit reverts to backup (local) control."""
UNIT_CONTROL_STATUS = MibObject("unitControlStatus", ASC + (3, 5), "read-only", values=_enum(UnitControlStatus))
UNIT_FLASH_STATUS = MibObject("unitFlashStatus", ASC + (3, 6), "read-only", values=_enum(UnitFlashStatus))


# --- coord (asc.4) --------------------------------------------------------------------------
class LocalFreeStatus(enum.IntEnum):
    """``localFreeStatus``: why coordination is not running (``NOT_FREE`` when it is)."""

    OTHER = 1
    NOT_FREE = 2
    COMMAND_FREE = 3
    TRANSITION_FREE = 4
    INPUT_FREE = 5
    COORD_FREE = 6
    BAD_PLAN = 7
    BAD_CYCLE_TIME = 8
    SPLIT_OVERRUN = 9
    INVALID_OFFSET = 10
    FAILED = 11


class SplitMode(enum.IntEnum):
    """``splitMode``: how a phase is served in a split."""

    OTHER = 1
    NONE = 2
    MINIMUM_VEHICLE_RECALL = 3
    MAXIMUM_VEHICLE_RECALL = 4
    PEDESTRIAN_RECALL = 5
    MAXIMUM_VEHICLE_AND_PEDESTRIAN_RECALL = 6
    PHASE_OMITTED = 7


PATTERN_STANDBY = 0
"""``systemPatternControl`` 0: standby, the unit runs its own schedule (``coordPatternStatus`` 0: not used)."""
PATTERN_FREE = 254
PATTERN_FLASH = 255
PATTERN_NUMBERS = range(1, 254)
"""Pattern numbers proper (1..253); 0, 254 and 255 are the special values above."""

MAX_PATTERNS = MibObject("maxPatterns", ASC + (4, 5), "read-only", 0, 255)
PATTERN_CYCLE_TIME = MibObject("patternCycleTime", ASC + (4, 7, 1, 2), "read-write", 0, 255, ("patternNumber",), "s")
PATTERN_OFFSET_TIME = MibObject("patternOffsetTime", ASC + (4, 7, 1, 3), "read-write", 0, 255, ("patternNumber",), "s")
PATTERN_SPLIT_NUMBER = MibObject("patternSplitNumber", ASC + (4, 7, 1, 4), "read-write", 0, 255, ("patternNumber",))
PATTERN_SEQUENCE_NUMBER = MibObject(
    "patternSequenceNumber", ASC + (4, 7, 1, 5), "read-write", 0, 255, ("patternNumber",)
)
MAX_SPLITS = MibObject("maxSplits", ASC + (4, 8), "read-only", 0, 255)
_SPLIT_INDEX = ("splitNumber", "splitPhase")
SPLIT_TIME = MibObject("splitTime", ASC + (4, 9, 1, 3), "read-write", 0, 255, _SPLIT_INDEX, "s")
SPLIT_MODE = MibObject("splitMode", ASC + (4, 9, 1, 4), "read-write", index=_SPLIT_INDEX, values=_enum(SplitMode))
SPLIT_COORD_PHASE = MibObject("splitCoordPhase", ASC + (4, 9, 1, 5), "read-write", 0, 1, _SPLIT_INDEX, "1 = coordinated")
COORD_PATTERN_STATUS = MibObject("coordPatternStatus", ASC + (4, 10), "read-only", 0, 255)
"""The running pattern: 0 not used, 1..253 a pattern, 254 free, 255 flash."""
LOCAL_FREE_STATUS = MibObject("localFreeStatus", ASC + (4, 11), "read-only", values=_enum(LocalFreeStatus))
COORD_CYCLE_STATUS = MibObject("coordCycleStatus", ASC + (4, 12), "read-only", 0, 510, units="s")
SYSTEM_PATTERN_CONTROL = MibObject("systemPatternControl", ASC + (4, 14), "read-write", 0, 255)
"""Central pattern command: 0 standby, 1..253 pattern, 254 free, 255 flash."""
SYSTEM_SYNC_CONTROL = MibObject("systemSyncControl", ASC + (4, 15), "read-write", 0, 255, units="s")


# --- preempt (asc.6) --------------------------------------------------------------------------
class PreemptState(enum.IntEnum):
    """``preemptState``: where a preempt's sequence is (NTCIP 1202 v03 §2.7.2)."""

    OTHER = 1
    NOT_ACTIVE = 2
    NOT_ACTIVE_WITH_CALL = 3  # the input is on; the sequence has not started (delay, a higher preempt)
    ENTRY_STARTED = 4
    TRACK_SERVICE = 5
    DWELL = 6
    LINK_ACTIVE = 7
    EXIT_STARTED = 8
    MAX_PRESENCE = 9  # the input stayed on past preemptMaximumPresence: treated as a fault


PREEMPT_CALLING = frozenset({PreemptState.NOT_ACTIVE_WITH_CALL, PreemptState.ENTRY_STARTED,
                             PreemptState.TRACK_SERVICE, PreemptState.DWELL, PreemptState.LINK_ACTIVE})
"""The states in which a vehicle calls the preempt (its input is on and valid)."""

MAX_PREEMPTS = MibObject("maxPreempts", ASC + (6, 1), "read-only", 1, 255)
PREEMPT_STATE = MibObject("preemptState", ASC + (6, 2, 1, 16), "read-only", index=("preemptNumber",),
                          values=_enum(PreemptState))
PREEMPT_CONTROL_STATE = MibObject("preemptControlState", ASC + (6, 3, 1, 2), "read-write", 0, 1,
                                  ("preemptControlNumber",), "1 = activate the preempt (as its input)")


# --- NTCIP 1201 database management (global.2) ----------------------------------------------
class DbCreateTransaction(enum.IntEnum):
    """``dbCreateTransaction``: normal -> transaction (buffer SETs) -> verify -> done/normal."""

    NORMAL = 1
    TRANSACTION = 2
    VERIFY = 3
    DONE = 6


class DbVerifyStatus(enum.IntEnum):
    NOT_DONE = 1
    DONE_WITH_ERROR = 2
    DONE_WITH_NO_ERROR = 3


DB_CREATE_TRANSACTION = MibObject(
    "dbCreateTransaction", GLOBAL + (2, 1), "read-write", values=_enum(DbCreateTransaction)
)
DB_VERIFY_STATUS = MibObject("dbVerifyStatus", GLOBAL + (2, 6), "read-only", values=_enum(DbVerifyStatus))
DB_VERIFY_ERROR = MibObject("dbVerifyError", GLOBAL + (2, 7), "read-only", syntax="DisplayString")
"""DisplayString in the MIB (the only non-INTEGER here): why verification failed."""


BY_NAME: dict[str, MibObject] = {v.name: v for v in list(globals().values()) if isinstance(v, MibObject)}
ALL_OBJECTS: tuple[MibObject, ...] = tuple(BY_NAME.values())
BY_OID: dict[tuple[int, ...], MibObject] = {o.oid: o for o in ALL_OBJECTS}


def lookup(instance_oid: Iterable[int]) -> tuple[MibObject, tuple[int, ...]] | None:
    """The object an instance OID belongs to and its index (``()`` for a scalar), or None."""
    oid = tuple(instance_oid)
    for cut in range(len(oid) - 1, 0, -1):
        obj = BY_OID.get(oid[:cut])
        if obj is not None:
            index = oid[cut:]
            if obj.index and len(index) == len(obj.index):
                return obj, index
            if not obj.index and index == (0,):
                return obj, ()
            return None
    return None


# --- phase bit masks ------------------------------------------------------------------------
def phase_group(nema_phase: int) -> tuple[int, int]:
    """``(group, bit)`` of a NEMA phase (1-based) in the 8-phase group masks."""
    if nema_phase < 1:
        raise ValueError(f"NEMA phases are numbered from 1, got {nema_phase}")
    return (nema_phase - 1) // PHASES_PER_GROUP + 1, (nema_phase - 1) % PHASES_PER_GROUP


def phase_masks(nema_phases: Iterable[int], groups: int = 1) -> dict[int, int]:
    """Bit mask per group (1..``groups`` at least, more if a phase needs it) for a set of phases."""
    masks = {g: 0 for g in range(1, groups + 1)}
    for phase in nema_phases:
        group, bit = phase_group(phase)
        masks[group] = masks.get(group, 0) | (1 << bit)
    return masks


def phases_in_mask(group: int, mask: int) -> list[int]:
    """The NEMA phases whose bits are set in ``mask`` of ``group``."""
    base = (group - 1) * PHASES_PER_GROUP
    return [base + bit + 1 for bit in range(PHASES_PER_GROUP) if mask >> bit & 1]

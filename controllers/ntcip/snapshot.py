"""One-shot read of a controller's state for engineers at the cabinet (``phasewise controller status``).

Unlike :class:`~controllers.ntcip.backend.NtcipBackend`, it needs no intersection model:
it reports NEMA phases as the controller numbers them. Required objects (signal states,
``unitControlStatus``, ``unitFlashStatus``, ``coordPatternStatus``) come in one GET; the
optional ones a controller may lack (``localFreeStatus``, ``systemPatternControl``,
``unitBackupTime``, the phase control groups) are read one by one and reported as ``None``
when absent.

Example::

    client = SnmpClient("10.0.0.21", 161, credentials)
    snap = read_snapshot(client)          # ControllerError if unreachable or refused
    snap.greens, snap.mode                # (2, 6), "local"
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.backend import ControlMode
from controllers.ntcip import oids
from controllers.ntcip.client import Oid, RequestRefused, SnmpClient


@dataclass(frozen=True)
class ControllerSnapshot:
    """What a controller reports at one instant; phases are NEMA phase numbers."""

    address: str
    mode: ControlMode
    unit_control_status: str
    unit_flash_status: str
    coord_pattern_status: int
    local_free_status: str | None
    system_pattern_control: int | None
    unit_backup_time_s: int | None
    greens: tuple[int, ...]
    yellows: tuple[int, ...]
    reds: tuple[int, ...]
    hold: tuple[int, ...] | None
    force_off: tuple[int, ...] | None
    veh_call: tuple[int, ...] | None
    phase_omit: tuple[int, ...] | None


def control_mode(unit_control_status: int, unit_flash_status: int, coord_pattern_status: int) -> ControlMode:
    """``flash`` when the unit flashes; ``engine`` when central commands rule
    (``unitControlStatus`` = systemControl); else ``local`` (timebase, backup, standby, ...)."""
    if unit_flash_status != oids.UnitFlashStatus.NOT_FLASH or coord_pattern_status == oids.PATTERN_FLASH:
        return "flash"
    if unit_control_status == oids.UnitControlStatus.SYSTEM_CONTROL:
        return "engine"
    return "local"


def _name(kind: type, value: int) -> str:
    try:
        return kind(value).name.lower()
    except ValueError:
        return f"unknown({value})"


def _phases(values: dict[Oid, int], obj: oids.MibObject, groups: int) -> tuple[int, ...]:
    return tuple(p for g in range(1, groups + 1) for p in oids.phases_in_mask(g, int(values[obj.instance(g)])))


def _optional(client: SnmpClient, oid_list: list[Oid]) -> dict[Oid, int] | None:
    try:
        return {oid: int(v) for oid, v in client.get(oid_list).items()}
    except RequestRefused:
        return None


def read_snapshot(client: SnmpClient, groups: int = 1) -> ControllerSnapshot:
    """Read the state of the controller behind ``client`` (``groups`` 8-phase groups)."""
    signal = [obj.instance(g) for g in range(1, groups + 1) for obj in (oids.GREENS, oids.YELLOWS, oids.REDS)]
    unit = [oids.UNIT_CONTROL_STATUS.instance(), oids.UNIT_FLASH_STATUS.instance(), oids.COORD_PATTERN_STATUS.instance()]
    values = {oid: int(v) for oid, v in client.get(signal + unit).items()}
    control, flash, pattern = (values[oid] for oid in unit)

    def scalar(obj: oids.MibObject) -> int | None:
        got = _optional(client, [obj.instance()])
        return None if got is None else got[obj.instance()]

    def masks(obj: oids.MibObject) -> tuple[int, ...] | None:
        got = _optional(client, [obj.instance(g) for g in range(1, groups + 1)])
        return None if got is None else _phases(got, obj, groups)

    free = scalar(oids.LOCAL_FREE_STATUS)
    return ControllerSnapshot(
        address=client.address,
        mode=control_mode(control, flash, pattern),
        unit_control_status=_name(oids.UnitControlStatus, control),
        unit_flash_status=_name(oids.UnitFlashStatus, flash),
        coord_pattern_status=pattern,
        local_free_status=None if free is None else _name(oids.LocalFreeStatus, free),
        system_pattern_control=scalar(oids.SYSTEM_PATTERN_CONTROL),
        unit_backup_time_s=scalar(oids.UNIT_BACKUP_TIME),
        greens=_phases(values, oids.GREENS, groups),
        yellows=_phases(values, oids.YELLOWS, groups),
        reds=_phases(values, oids.REDS, groups),
        hold=masks(oids.HOLD),
        force_off=masks(oids.FORCE_OFF),
        veh_call=masks(oids.VEH_CALL),
        phase_omit=masks(oids.PHASE_OMIT),
    )

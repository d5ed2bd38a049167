"""Phase-level commands as NTCIP 1202 phase control masks (``phaseControlGroup*``).

A pure function of the step's commands, the phase now green and the NEMA mapping; the
backend sends its result in one SET. Level semantics, as the controller reads the bits: a bit
not set this step is cleared, so an empty step releases every hold, call and omit.

* ``hold(p)``: ``phaseControlGroupHold`` on p's NEMA phases;
* ``call(p)``: ``phaseControlGroupVehCall`` on them;
* ``omit(p)``: ``phaseControlGroupPhaseOmit`` on them;
* ``ped_call(p)``: ``phaseControlGroupPedCall`` on them (the controller times walk and
  pedestrian clearance);
* ``serve_next(p)``: force-off on the green NEMA phases p does not keep, a vehicle call on
  p's, and an omit on every other phase so the controller's ring order cannot serve
  something in between.

Example::

    control_masks(mapping, current_phase=0, commands=[PhaseCommand("J1", "serve_next", 2)], groups=1)
    # {HOLD.1: 0, FORCE_OFF.1: 0b0001, VEH_CALL.1: 0b0100, PHASE_OMIT.1: 0b1010}
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.backend import PhaseCommand
from controllers.ntcip import oids
from controllers.ntcip.pattern import PhaseMap
from phasewise_errors import ControllerError

Oid = tuple[int, ...]

CONTROL_OBJECTS: tuple[oids.MibObject, ...] = (oids.HOLD, oids.FORCE_OFF, oids.VEH_CALL, oids.PHASE_OMIT, oids.PED_CALL)
"""The phase control columns the backend drives (pedestrian omits are left to the controller)."""


def control_oids(groups: int) -> list[Oid]:
    """Instance OIDs of :data:`CONTROL_OBJECTS` for phase groups 1..``groups``."""
    return [obj.instance(g) for obj in CONTROL_OBJECTS for g in range(1, groups + 1)]


def control_masks(
    phase_map: PhaseMap, current_phase: int, commands: Sequence[PhaseCommand], groups: int
) -> dict[Oid, int]:
    """Instance OID -> bit mask for every control object and group (0 where nothing is commanded).

    ``ControllerError`` when one step both holds a green and serves the next phase from it.
    """
    phases: dict[oids.MibObject, set[int]] = {obj: set() for obj in CONTROL_OBJECTS}
    current = set(phase_map.nema_phases(current_phase))
    for command in commands:
        nema = set(phase_map.nema_phases(command.phase))
        if command.kind == "hold":
            phases[oids.HOLD] |= nema
        elif command.kind == "call":
            phases[oids.VEH_CALL] |= nema
        elif command.kind == "omit":
            phases[oids.PHASE_OMIT] |= nema
        elif command.kind == "ped_call":
            phases[oids.PED_CALL] |= nema
        else:  # serve_next
            phases[oids.FORCE_OFF] |= current - nema
            phases[oids.VEH_CALL] |= nema
            phases[oids.PHASE_OMIT] |= set(phase_map.nema_phases_used) - nema - current
    if phases[oids.HOLD] & phases[oids.FORCE_OFF]:
        tls = commands[0].tls_id if commands else "?"
        raise ControllerError(f"{tls}: hold and serve_next of the same green in one step")
    values: dict[Oid, int] = {}
    for obj, chosen in phases.items():
        for group, mask in oids.phase_masks(chosen, groups).items():
            values[obj.instance(group)] = mask
    return values

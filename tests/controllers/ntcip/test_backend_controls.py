"""Phase commands -> phaseControlGroup masks (pure; the SNMP side is in snmpsim/ and cabinet tests)."""

from __future__ import annotations

import pytest

from controllers.backend import PhaseCommand
from controllers.ntcip import oids
from controllers.ntcip.controls import control_masks, control_oids
from controllers.ntcip.nema import NemaMapping
from optimizer.intersection import IntersectionModel
from phasewise_errors import ControllerError


@pytest.fixture
def dual_ring(four_phase: IntersectionModel) -> NemaMapping:
    # model phases 0..3 = NS lefts {1, 5}, NS through {2, 6}, EW lefts {3, 7}, EW through {4, 8}
    mapping = NemaMapping("four", ((1, 5), (2, 6), (3, 7), (4, 8)), ((1, 2, 3, 4), (5, 6, 7, 8)),
                          ((1, 2, 5, 6), (3, 4, 7, 8)), four_phase)
    mapping.validate()
    return mapping


def masks(values):
    return {name: values[obj.instance(1)] for name, obj in
            (("hold", oids.HOLD), ("force_off", oids.FORCE_OFF), ("call", oids.VEH_CALL), ("omit", oids.PHASE_OMIT))}


def test_each_kind_sets_its_bits_and_nothing_else(dual_ring):
    values = control_masks(dual_ring, 1, [PhaseCommand("four", "hold", 1), PhaseCommand("four", "call", 3),
                                          PhaseCommand("four", "omit", 2)], groups=1)
    assert masks(values) == {"hold": 0b00100010, "force_off": 0, "call": 0b10001000, "omit": 0b01000100}
    assert set(values) == set(control_oids(1))


def test_serve_next_forces_off_the_green_calls_the_target_and_omits_the_rest(dual_ring):
    values = control_masks(dual_ring, 1, [PhaseCommand("four", "serve_next", 3)], groups=1)
    assert masks(values) == {"hold": 0, "force_off": 0b00100010, "call": 0b10001000, "omit": 0b01010101}


def test_an_empty_step_clears_every_bit_of_every_group(dual_ring):
    values = control_masks(dual_ring, 0, [], groups=2)
    assert set(values) == set(control_oids(2)) and not any(values.values())


def test_holding_and_leaving_the_same_green_is_refused(dual_ring):
    with pytest.raises(ControllerError, match="hold and serve_next"):
        control_masks(dual_ring, 1, [PhaseCommand("four", "hold", 1), PhaseCommand("four", "serve_next", 2)], 1)

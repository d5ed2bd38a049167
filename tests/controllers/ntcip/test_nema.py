"""NEMA mapping: default sequential map, site files, ring/barrier checks, link states."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers.ntcip.nema import load_mapping, phase_map
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError, PlanError

DUAL_RING = """
tls_id: four
rings: [[1, 2, 3, 4], [5, 6, 7, 8]]
barriers: [[1, 2, 5, 6], [3, 4, 7, 8]]
phases: {0: [1, 5], 1: [2, 6], 2: [3, 7], 3: [4, 8]}
"""


def test_sequential_default(four_phase: IntersectionModel) -> None:
    m = phase_map(four_phase)
    assert m.nema_phases_used == (1, 2, 3, 4)
    assert m.nema_phases(2) == (3,)
    assert m.model_phase(frozenset({4})) == 3
    assert m.model_phase(frozenset({1, 2})) is None
    assert m.ring_of(3) == 1
    assert m.masks([0, 3]) == {1: 0b1001}
    m.check_sequence((0, 1, 2, 3))
    m.check_sequence((1, 3))  # skipping is fine
    m.check_sequence((2, 3, 0, 1))  # a rotation is the same ring order
    with pytest.raises(PlanError, match="ring 1"):
        m.check_sequence((0, 2, 1, 3))


def test_link_state_follows_stages(four_phase: IntersectionModel) -> None:
    m = phase_map(four_phase)
    assert m.link_state({2}) == "GgGgrrrr"
    assert m.link_state((), {2}) == "yyyyrrrr"
    assert m.link_state((), ()) == "rrrrrrrr"


def test_dual_ring_file(tmp_path: Path, four_phase: IntersectionModel) -> None:
    f = tmp_path / "four.yaml"
    f.write_text(DUAL_RING)
    m = load_mapping(f, {"four": four_phase})
    assert m.nema_phases(1) == (2, 6)
    assert m.ring_of(6) == 2 and m.barrier_of(7) == 1
    assert m.masks([1]) == {1: 0b00100010}
    assert m.link_state({2, 6}) == "GgGgrrrr"
    with pytest.raises(PlanError, match="ring"):
        m.check_sequence((1, 0, 2, 3))


@pytest.mark.parametrize(
    "text, message",
    [
        (DUAL_RING.replace("0: [1, 5]", "0: [1, 2]"), "phases.0: .*share a ring"),
        (DUAL_RING.replace("0: [1, 5]", "0: [1, 7]"), "phases.0: .*cross a barrier"),
        (DUAL_RING.replace("rings:", "ringz:"), "rings: Field required|ringz"),
        (DUAL_RING.replace("3: [4, 8]", "3: [4, 9]"), "phases.3: NEMA phase 9 is in no ring"),
        (DUAL_RING.replace("tls_id: four", "tls_id: nope"), "tls_id: no traffic light"),
    ],
)
def test_bad_files_name_file_and_field(tmp_path: Path, four_phase: IntersectionModel, text: str, message: str) -> None:
    f = tmp_path / "site.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_mapping(f, {"four": four_phase})
    assert str(f) in str(err.value)

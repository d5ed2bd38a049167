"""NEMA dual-ring programs (SUMO ``tlLogic type="NEMA"``) as ordinary green phases.

In a NEMA program each ``<phase>`` is one ring's phase (its ``name`` is the NEMA phase
number) and the signal shows one phase of ring 1 and one of ring 2 at the same time; the
``ring1``/``ring2`` parameters give each ring's sequence (``0`` = no phase there) and the
barrier (``barrier2Phases``, ``barrierPhases``) splits both rings into two sides whose phases
may run together in any pairing. Read phase by phase, north-south through (2) and
south-north through (6) would never be green together and the model would serve one
approach at a time. So the model's green phases are the concurrent pairs: every ring-1
phase with every ring-2 phase of the same barrier side, states merged.

Clearances are phase attributes (``yellow``, ``red``) that sumolib does not keep;
:func:`nema_clearances` reads them from the net file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import sumolib

_RANK = {"G": 2, "g": 1}


def nema_green_phases(program: sumolib.net.TLSProgram) -> list[sumolib.net.Phase] | None:
    """The concurrent green phases of a NEMA program, or ``None`` when its rings are unusable."""
    by_name = {p.name: p for p in program.getPhases() if p.name}
    rings = [_ring(program.getParam(key)) for key in ("ring1", "ring2")]
    if any(r is None for r in rings):
        return None
    barrier = set(_ring(program.getParam("barrier2Phases", "")) or [])
    combined: list[sumolib.net.Phase] = []
    for side in (0, 1):
        ring1, ring2 = (_side(r, barrier, side) for r in rings)  # type: ignore[arg-type]
        pairs = [(a, b) for a in ring1 for b in ring2] or [(a, None) for a in ring1] or [(b, None) for b in ring2]
        for a, b in pairs:
            phases = [by_name.get(str(n)) for n in (a, b) if n is not None]
            if None in phases or not phases:
                return None
            combined.append(_merge([p for p in phases if p is not None]))
    return combined or None


def nema_clearances(net_file: Path) -> dict[str, tuple[float, float]]:
    """``tls id -> (yellow_s, red_s)`` of the NEMA programs in a net (shortest of its phases)."""
    clearances: dict[str, tuple[float, float]] = {}
    for _, elem in ET.iterparse(net_file, events=("end",)):
        if elem.tag == "tlLogic":
            if elem.get("type") == "NEMA":
                phases = elem.findall("phase")
                yellows = [float(p.get("yellow", "nan")) for p in phases if p.get("yellow")]
                reds = [float(p.get("red", "nan")) for p in phases if p.get("red")]
                if yellows and reds:
                    clearances[elem.get("id", "")] = (min(yellows), min(reds))
            elem.clear()
        elif elem.tag in ("edge", "junction", "connection"):
            elem.clear()
    return clearances


def _ring(raw: str | None) -> list[int] | None:
    try:
        return [int(x) for x in (raw or "").replace(" ", ",").split(",") if x.strip()] or None
    except ValueError:
        return None


def _side(ring: list[int], barrier: set[int], side: int) -> list[int]:
    """The ring's phases on one side of the barrier (the first side ends at a barrier2 phase)."""
    cut = next((k + 1 for k, n in enumerate(ring) if n in barrier), len(ring) // 2)
    part = ring[:cut] if side == 0 else ring[cut:]
    return [n for n in part if n > 0]


def _merge(phases: list[sumolib.net.Phase]) -> sumolib.net.Phase:
    """One phase showing every link green that any of ``phases`` shows green."""
    state = "".join(max(chars, key=lambda c: _RANK.get(c, 0)) for chars in zip(*(p.state for p in phases)))
    return sumolib.net.Phase(
        duration=max(p.duration for p in phases),
        state=state,
        minDur=max(p.minDur for p in phases),
        maxDur=max(p.maxDur for p in phases),
        name="+".join(p.name for p in phases),
    )

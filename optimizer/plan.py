"""The timing plan: what every controller backend applies, and the one validator.

A :class:`TimingPlan` holds, per intersection (:class:`IntersectionPlan`), the cycle, the
phase sequence with each phase's green, yellow and all-red, and the offset of the
coordinated phase. Each :class:`PhaseTiming` also carries the bounds it was made under
(min green, max green, pedestrian minimum) so a backend or the gate can check it alone.

Conventions (seconds throughout):

* the phase sequence runs over the model's green phases (``model.phases``); a
  ``PhaseTiming``'s ``yellow_s``/``all_red_s`` are the clearance *after* that phase, into
  the next phase of the sequence (the last one clears into the first);
* ``cycle_s`` = sum of green + yellow + all-red over the sequence;
* ``offset_s`` is the time (mod cycle, from simulation/controller time 0) at which the
  green of ``coordinated_phase`` starts.

Example::

    plan = optimize_corridor(models, demand)        # or optimize_intersection(...)
    validate(plan, models)                          # raises PlanError naming tls and phase
    Path("plan.json").write_text(plan.to_json())
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from optimizer.intersection import IntersectionModel
from phasewise_errors import PlanError

TOLERANCE_S = 0.01  # rounding slack when comparing durations


@dataclass(frozen=True)
class PhaseTiming:
    """One green phase of a plan and the clearance after it (seconds)."""

    phase: int
    green_s: float
    yellow_s: float
    all_red_s: float
    min_green_s: float
    max_green_s: float
    ped_min_s: float = 0.0

    @property
    def split_s(self) -> float:
        """Green plus the clearance that follows it: the phase's share of the cycle."""
        return self.green_s + self.yellow_s + self.all_red_s

    @property
    def required_green_s(self) -> float:
        """The shortest green allowed: the larger of min green and pedestrian minimum."""
        return max(self.min_green_s, self.ped_min_s)


@dataclass(frozen=True)
class IntersectionPlan:
    """Cycle, offset and phase sequence of one traffic light."""

    tls_id: str
    cycle_s: float
    offset_s: float
    phases: tuple[PhaseTiming, ...]
    coordinated_phase: int

    @property
    def sequence(self) -> tuple[int, ...]:
        return tuple(p.phase for p in self.phases)

    def timing(self, phase: int) -> PhaseTiming:
        for p in self.phases:
            if p.phase == phase:
                return p
        raise KeyError(phase)

    def green_start_s(self, phase: int) -> float:
        """Start of ``phase``'s green measured from the start of the sequence's first green."""
        start = 0.0
        for p in self.phases:
            if p.phase == phase:
                return start
            start += p.split_s
        raise KeyError(phase)

    def sequence_start_s(self) -> float:
        """Absolute time (mod cycle) at which the first phase of the sequence turns green."""
        return (self.offset_s - self.green_start_s(self.coordinated_phase)) % self.cycle_s


@dataclass(frozen=True)
class TimingPlan:
    """Timing of a set of intersections, keyed by tls id; ``created_by`` names the optimizer."""

    intersections: dict[str, IntersectionPlan]
    created_by: str
    note: str = ""
    objective: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "created_by": self.created_by,
                "note": self.note,
                "objective": self.objective,
                "intersections": [asdict(p) for p in self.intersections.values()],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> TimingPlan:
        """Parse :meth:`to_json` output; a malformed document raises ``PlanError``.

        Every duration must be a JSON number (not a string, not a boolean) and finite; an
        intersection may appear once."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"not a timing plan JSON document (not JSON: {exc})") from None
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("intersections"), list):
                raise PlanError("expected an object with an 'intersections' list")
            plans: dict[str, IntersectionPlan] = {}
            for item in raw["intersections"]:
                plan = _intersection_from_json(item)
                if plan.tls_id in plans:
                    raise PlanError(f"{plan.tls_id}: listed twice")
                plans[plan.tls_id] = plan
            objective = raw.get("objective", {})
            if not isinstance(objective, dict):
                raise PlanError("'objective' must be an object")
            return cls(plans, str(raw.get("created_by", ""))[:200], str(raw.get("note", ""))[:2000], dict(objective))
        except PlanError as exc:
            raise PlanError(f"not a timing plan JSON document ({exc})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"not a timing plan JSON document ({type(exc).__name__}: {str(exc)[:200]})") from None


PHASE_FIELDS = ("phase", "green_s", "yellow_s", "all_red_s", "min_green_s", "max_green_s", "ped_min_s")


def _number(item: dict, key: str, where: str, integer: bool = False) -> float:
    """``item[key]`` as a finite number; PlanError naming ``where`` and ``key`` otherwise."""
    if key not in item:
        raise PlanError(f"{where}: '{key}' is missing")
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{where}: '{key}' must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise PlanError(f"{where}: '{key}' is {value}, not a finite number")
    if integer and value != int(value):
        raise PlanError(f"{where}: '{key}' must be a whole number, not {value}")
    return int(value) if integer else float(value)


def _intersection_from_json(item: object) -> IntersectionPlan:
    if not isinstance(item, dict) or not isinstance(item.get("tls_id"), str) or not isinstance(item.get("phases"), list):
        raise PlanError("each intersection needs 'tls_id' (a string) and 'phases' (a list)")
    tls = item["tls_id"][:100]
    phases = []
    for p in item["phases"]:
        if not isinstance(p, dict):
            raise PlanError(f"{tls}: each phase must be an object")
        unknown = sorted(set(p) - set(PHASE_FIELDS))
        if unknown:
            raise PlanError(f"{tls}: unknown phase field(s) {', '.join(map(str, unknown))[:100]}")
        where = f"{tls} phase {p.get('phase', '?')}"
        values = {k: _number(p, k, where, integer=k == "phase") for k in PHASE_FIELDS if k != "ped_min_s"}
        if "ped_min_s" in p:
            values["ped_min_s"] = _number(p, "ped_min_s", where)
        phases.append(PhaseTiming(**values))  # type: ignore[arg-type]
    return IntersectionPlan(
        tls_id=tls,
        cycle_s=_number(item, "cycle_s", tls),
        offset_s=_number(item, "offset_s", tls),
        phases=tuple(phases),
        coordinated_phase=int(_number(item, "coordinated_phase", tls, integer=True)),
    )


def clearance_parts(model: IntersectionModel, from_phase: int, to_phase: int) -> tuple[float, float]:
    """``(yellow_s, all_red_s)`` the model requires between two green phases."""
    yellow = all_red = 0.0
    for state, duration_s in model.transition(from_phase, to_phase):
        if "y" in state.lower():
            yellow += duration_s
        else:
            all_red += duration_s
    return yellow, all_red


def lost_time_s(model: IntersectionModel, sequence: tuple[int, ...]) -> float:
    """Total clearance over one cycle of ``sequence``."""
    return sum(model.clearance_s(a, sequence[(k + 1) % len(sequence)]) for k, a in enumerate(sequence))


def skippable_phases(model: IntersectionModel) -> frozenset[int]:
    """Phases whose every green link is also green in some other phase (no movement needs them)."""
    out = set()
    for phase in model.phases:
        others = set().union(*(p.green_links for p in model.phases if p.index != phase.index))
        if phase.green_links <= others:
            out.add(phase.index)
    return frozenset(out)


def validate(plan: TimingPlan, models: dict[str, IntersectionModel], *, complete: bool = False) -> None:
    """Refuse an impossible or unsafe plan with a ``PlanError`` naming tls and phase.

    Checks, per intersection: the tls exists; every number is finite; phases exist, appear
    once, and only phases that no movement needs are left out; greens within [max(min green,
    ped min), max green] of both the plan and the model; yellow and all-red at least what the
    model's transition needs; the phases add up to the cycle; the offset lies in [0, cycle);
    no state shown (greens and clearances) puts conflicting links green together.

    ``complete``: the plan is for a whole site (``models``): it must hold every intersection
    of ``models`` (a plan for part of a site would leave the rest without one). The daemon
    and the optimizer's outputs validate with it; the safety layer's bounded steps do not.
    """
    if complete:
        missing = sorted(set(models) - set(plan.intersections))
        if missing:
            raise PlanError(f"the plan has no timing for {', '.join(missing)} (a plan must cover every intersection "
                            f"of the site: {', '.join(sorted(models))})")
    for tls_id, ip in plan.intersections.items():
        if tls_id not in models:
            raise PlanError(f"{tls_id}: no such traffic light in the network")
        if tls_id != ip.tls_id:
            raise PlanError(f"{tls_id}: the plan's entry names {ip.tls_id}")
        _check_finite(ip)
        _validate_intersection(ip, models[tls_id])


def _check_finite(ip: IntersectionPlan) -> None:
    for name in ("cycle_s", "offset_s"):
        if not math.isfinite(getattr(ip, name)):
            raise PlanError(f"{ip.tls_id}: {name} is {getattr(ip, name)}, not a finite number")
    for pt in ip.phases:
        for name in PHASE_FIELDS[1:]:
            value = getattr(pt, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PlanError(f"{ip.tls_id} phase {pt.phase}: {name} is {value!r}, not a finite number")
        if pt.yellow_s < 0 or pt.all_red_s < 0 or pt.min_green_s < 0 or pt.ped_min_s < 0:
            raise PlanError(f"{ip.tls_id} phase {pt.phase}: durations must not be negative")


def _validate_intersection(ip: IntersectionPlan, model: IntersectionModel) -> None:
    tls = ip.tls_id
    if not ip.phases:
        raise PlanError(f"{tls}: the plan has no phases")
    n = len(model.phases)
    seq = ip.sequence
    for k in seq:
        if not 0 <= k < n:
            raise PlanError(f"{tls} phase {k}: no such phase (the model has phases 0..{n - 1})")
    if len(set(seq)) != len(seq):
        raise PlanError(f"{tls}: phase sequence {list(seq)} repeats a phase")
    served = set().union(*(model.phases[k].green_links for k in seq))
    for k in range(n):
        if k not in seq and not model.phases[k].green_links <= served:
            raise PlanError(
                f"{tls} phase {k}: missing from the sequence, but links "
                f"{sorted(model.phases[k].green_links - served)[:5]} get green in no other phase of the plan"
            )
    if ip.coordinated_phase not in seq:
        raise PlanError(f"{tls} phase {ip.coordinated_phase}: coordinated phase is not in the sequence")
    for j, pt in enumerate(ip.phases):
        phase = model.phases[pt.phase]
        low = max(pt.required_green_s, phase.min_green_s)
        # walk + pedestrian clearance fit even past the max green, which bounds vehicle extension
        high = max(min(pt.max_green_s, phase.max_green_s), model.pedestrian_time_s(pt.phase))
        if pt.green_s < low - TOLERANCE_S:
            raise PlanError(f"{tls} phase {pt.phase}: green {pt.green_s:g} s is below its minimum {low:g} s")
        if pt.green_s > high + TOLERANCE_S:
            raise PlanError(f"{tls} phase {pt.phase}: green {pt.green_s:g} s is above its maximum {high:g} s")
        nxt = seq[(j + 1) % len(seq)]
        yellow, all_red = clearance_parts(model, pt.phase, nxt)
        if pt.yellow_s < yellow - TOLERANCE_S or pt.all_red_s < all_red - TOLERANCE_S:
            raise PlanError(
                f"{tls} phase {pt.phase}: clearance to phase {nxt} is {pt.yellow_s:g} s yellow + "
                f"{pt.all_red_s:g} s all-red, needs {yellow:g} s + {all_red:g} s"
            )
        unsafe = model.unsafe_pairs(phase.state)
        for state, _ in model.transition(pt.phase, nxt):
            unsafe += model.unsafe_pairs(state)
        if unsafe:
            raise PlanError(f"{tls} phase {pt.phase}: conflicting links {sorted(set(unsafe))[:3]} green together")
    total = sum(pt.split_s for pt in ip.phases)
    if abs(total - ip.cycle_s) > TOLERANCE_S * len(ip.phases):
        raise PlanError(f"{tls}: phases add up to {total:g} s but the cycle is {ip.cycle_s:g} s")
    if not 0.0 <= ip.offset_s < ip.cycle_s + TOLERANCE_S:
        raise PlanError(f"{tls} phase {ip.coordinated_phase}: offset {ip.offset_s:g} s outside [0, cycle {ip.cycle_s:g} s)")

"""A few plans around the analytical optimum, for SUMO to choose from.

The model (Webster + HCM incremental delay, platoon progression) is blind to what it does not
represent: queues spilling back over short links onto merges, lane changes before turn bays,
blocked junction boxes. Where engineers already timed a network well, their cycle often
encodes exactly that. So besides the analytical optimum, :func:`candidate_plans` offers:

* ``analytical``: :func:`optimizer.corridor.optimize_corridor` as it is;
* ``program cycle``: the same optimisation (splits, offsets) at the cycle the network's
  program runs (the longest program cycle of the planned lights): the existing program as a
  warm start for the cycle, re-split and re-offset for the demand;
* ``halfway to program``/``near program``: at the program's cycle, each green half (or
  80 %) of the way from the re-split plan to the program's own green
  (:func:`blend_with_program`): steps from what
  engineers chose toward what the model wants, for when the model is wrong about a movement
  (a left turn that filters better than HCM's gap acceptance says);
* ``near program, its offsets``: the latter with the program's own offsets
  (:func:`with_program_offsets`);
* ``longer cycle``: the analytical cycle stretched by ``LONGER_CYCLE_FACTOR``: fewer
  switches and more capacity per hour (lost time is paid fewer times); left out when the
  lanes cannot store its red-time queues.

Queue storage (``bounds.storage_veh``, :mod:`optimizer.storage`) constrains every candidate's
splits, and the cycle of all but the program-cycle ones: those keep the cycle the
engineers chose, which SUMO judges. Where storage changes the analytical optimum, that
optimum without the storage limit is a candidate too (``no storage limit``): the red-time
queue is a simple model of spill-back, and SUMO shows whether holding it pays.

``phasewise optimize`` simulates each on seeds of its own and keeps the best before the
check against the program (``phasewise/cmd_optimize.py``). Pure: no SUMO here. Example::

    plans = candidate_plans(models, demand, links, bounds, time_limit_s=2.0)
    for label, plan in plans.items(): ...
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from optimizer.corridor import CorridorLink, CorridorOptions, optimize_corridor
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TOLERANCE_S, IntersectionPlan, TimingPlan
from optimizer.webster import IntersectionBounds, storage_cycle_cap_s
from phasewise_errors import PlanError

LONGER_CYCLE_FACTOR = 1.3  # one step the model would not take; SUMO decides whether it pays
SAME_CYCLE_S = 2.0  # candidates whose cycles differ by less are the same plan for SUMO's purposes


def storage_cap_s(models: Mapping[str, IntersectionModel], demand: DemandEstimate, bounds: IntersectionBounds) -> float:
    """The longest common cycle whose red-time queues fit at every light (lights too short for any cycle aside)."""
    caps = [storage_cycle_cap_s(m, demand, bounds) for m in models.values()] if bounds.storage_veh else []
    return min((c for c in caps if c is not None), default=math.inf)


def program_cycle_s(models: dict[str, IntersectionModel]) -> float:
    """The longest cycle among the lights' own programs (0 when none is known)."""
    return max((m.program_cycle_s for m in models.values() if m.program_cycle_s > 0), default=0.0)


def candidate_plans(
    models: dict[str, IntersectionModel],
    demand: DemandEstimate,
    links: Sequence[CorridorLink] = (),
    bounds: IntersectionBounds = IntersectionBounds(),
    time_limit_s: float = 5.0,
    options: CorridorOptions = CorridorOptions(),
) -> dict[str, TimingPlan]:
    """``{label: plan}``, the analytical optimum first; a variant whose cycle does not fit is left out."""
    analytical = optimize_corridor(models, demand, links, time_limit_s, bounds, options)
    plans = {"analytical": analytical}
    if bounds.storage_veh:
        free = optimize_corridor(models, demand, links, time_limit_s, dataclasses.replace(bounds, storage_veh={}), options)
        if free.intersections != analytical.intersections:
            plans["no storage limit"] = dataclasses.replace(free, note=f"no storage limit: {free.note}")
    cycles = [analytical.objective.get("cycle_s", 0.0)]
    longer = round(analytical.objective.get("cycle_s", 0.0) * LONGER_CYCLE_FACTOR)
    wanted = [("program cycle", program_cycle_s(models))]
    if longer <= storage_cap_s(models, demand, bounds):
        wanted.append(("longer cycle", longer))
    for label, cycle in wanted:
        if cycle <= 0 or any(abs(cycle - c) < SAME_CYCLE_S for c in cycles):
            continue
        widened = dataclasses.replace(bounds, cycle_max_s=max(bounds.cycle_max_s, cycle))
        try:
            plan = optimize_corridor(models, demand, links, time_limit_s,
                                     widened, dataclasses.replace(options, cycle_candidates_s=(int(round(cycle)),)))
        except PlanError:  # the cycle cannot hold the phases' min/max greens: not a candidate
            continue
        plans[label] = dataclasses.replace(plan, note=f"{label}: {plan.note}")
        cycles.append(cycle)
    if "program cycle" in plans:
        for label, weight in PROGRAM_WEIGHTS.items():
            blended = blend_with_program(plans["program cycle"], models, weight)
            if blended is not None:
                plans[label] = dataclasses.replace(blended, note=f"{label}: {plans['program cycle'].note}")
        if "near program" in plans:
            plans["near program, its offsets"] = with_program_offsets(plans["near program"], models)
    return plans


PROGRAM_WEIGHTS = {"halfway to program": 0.5, "near program": 0.8}  # steps of a search between the two


def with_program_offsets(plan: TimingPlan, models: dict[str, IntersectionModel]) -> TimingPlan:
    """``plan`` with each sequence starting where the program's does (its SUMO offset).

    The model's progression offsets assume platoons it can predict; on a cluster of lights a
    few metres apart the program's own alignment (often all starting together) keeps the
    short links from filling, which SUMO shows and the model does not.
    """
    out = {}
    for tls_id, ip in plan.intersections.items():
        if abs(ip.cycle_s - models[tls_id].program_cycle_s) > TOLERANCE_S:
            out[tls_id] = ip
            continue
        offset = (models[tls_id].program_offset_s + ip.green_start_s(ip.coordinated_phase)) % ip.cycle_s
        out[tls_id] = dataclasses.replace(ip, offset_s=offset)
    return TimingPlan(out, plan.created_by, f"{plan.note}; the program's offsets", dict(plan.objective))


def blend_with_program(plan: TimingPlan, models: dict[str, IntersectionModel], weight: float) -> TimingPlan | None:
    """``plan`` with each green moved ``weight`` of the way to the program's green, cycle kept.

    Only for lights whose plan cycle equals their program cycle (others keep the plan's
    greens); ``None`` when no light qualifies. Greens stay within min/max green and sum to
    the same cycle (the rounding remainder goes to the longest green).
    """
    out: dict[str, IntersectionPlan] = {}
    changed = False
    for tls_id, ip in plan.intersections.items():
        model = models[tls_id]
        if abs(ip.cycle_s - model.program_cycle_s) > TOLERANCE_S or ip.sequence != tuple(range(len(model.phases))):
            out[tls_id] = ip
            continue
        greens = np.array([p.green_s for p in ip.phases])
        target = (1 - weight) * greens + weight * np.array([ph.duration_s for ph in model.phases])
        low = np.array([p.required_green_s for p in ip.phases])
        high = np.array([max(p.max_green_s, p.required_green_s) for p in ip.phases])
        target = np.clip(np.round(target), low, high)
        target[int(np.argmax(target))] += greens.sum() - target.sum()
        if target.min() < low.min() - TOLERANCE_S or np.any(target > high + TOLERANCE_S):
            out[tls_id] = ip
            continue
        phases = tuple(dataclasses.replace(p, green_s=float(g)) for p, g in zip(ip.phases, target))
        out[tls_id] = dataclasses.replace(ip, phases=phases)
        changed = changed or not np.allclose(target, greens)
    if not changed:
        return None
    return TimingPlan(out, plan.created_by, plan.note, dict(plan.objective))

"""Spill-back: the movements whose red-time queue a plan does not fit in their lanes.

The optimisation keeps every queue within its storage where it can
(:mod:`optimizer.storage`); where it cannot (the link is too short for any feasible cycle,
or holding one queue would spill another) the plan still has to run, and the engineer has to
know. :func:`spill_backs` lists those movements with the queue, the storage and the
shortest queue any feasible plan could give (``least_queue_veh``): above the storage, no
retiming helps, the link needs another remedy (a longer bay, a ban, a phase that clears it).

Example::

    for s in spill_backs(plan, models, demand, bounds):
        print(s.describe())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from optimizer.storage import JAM_SPACING_M, least_queue_veh
from optimizer.webster import IntersectionBounds, cycle_range_s, green_bounds_s, intersection_storage

TOLERANCE_VEH = 0.5  # whole-second rounding of greens moves a queue by a fraction of a vehicle


@dataclass(frozen=True)
class SpillBack:
    """One movement whose red-time queue (veh per lane) exceeds the storage of ``lane``."""

    tls_id: str
    movement: str
    lane: str
    queue_veh: float
    storage_veh: float
    least_queue_veh: float

    @property
    def any_cycle(self) -> bool:
        """True when no feasible plan fits this queue: the link is too short for any cycle."""
        return self.least_queue_veh > self.storage_veh + TOLERANCE_VEH

    def describe(self) -> str:
        why = ("too short for any feasible cycle" if self.any_cycle
               else f"a plan could hold it ({self.least_queue_veh:.1f} veh) only by spilling another queue or "
                    "overloading a movement")
        return (f"{self.tls_id} {self.movement}: red-time queue {self.queue_veh:.1f} veh per lane, lane {self.lane} "
                f"holds {self.storage_veh:.1f} ({self.storage_veh * JAM_SPACING_M:.0f} m): {why}")


def spill_backs(plan: TimingPlan, models: Mapping[str, IntersectionModel], demand: DemandEstimate,
                bounds: IntersectionBounds) -> list[SpillBack]:
    """Movements of ``plan`` whose red-time queue exceeds their storage (``bounds.storage_veh``)."""
    out = []
    for tls_id, ip in plan.intersections.items():
        model = models[tls_id]
        rows = intersection_storage(model, demand, bounds)
        if not len(rows):
            continue
        greens = np.zeros(len(model.phases))
        for timing in ip.phases:
            greens[timing.phase] += timing.green_s
        queue = rows.arrival_veh_s * (ip.cycle_s - (1.0 - rows.red) @ greens)
        over = np.flatnonzero(queue > rows.storage_veh + TOLERANCE_VEH)
        if not len(over):
            continue
        low, high = green_bounds_s(model, bounds)
        least = least_queue_veh(rows, low, high, *cycle_range_s(model, bounds))
        out += [SpillBack(tls_id, model.movements[rows.movements[r]].id, rows.lanes[r], float(queue[r]),
                          float(rows.storage_veh[r]), float(least[r])) for r in over]
    return out

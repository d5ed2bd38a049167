"""Tactical phase decisions from camera lane observations (the cycle-by-cycle layer).

Each second, for one intersection, given what the cameras see on its incoming lanes:

* ``queue_veh``  stopped vehicles in view, per lane;
* ``moving_near_veh`` moving vehicles within the gap zone before the stop line, per lane;
* ``moving_veh`` all moving vehicles in view, per lane;

the policy decides whether to hold the green phase or which phase comes next:

1. never before the phase's minimum green, always by its maximum green (both from the
   running timing plan);
2. **hold** while the green phase still serves traffic: vehicles queued or moving in the gap
   zone of its lanes (queue discharge and gap-out, as a fully actuated controller does);
3. otherwise **switch** to the phase with the largest weighted demand, where waiting vehicles
   count fully, approaching ones by half and a phase's weight grows with the time it has
   been waiting (so no movement starves); phases with no demand are **skipped**;
4. with no demand anywhere, **rest** in the current phase.

A phase on recall (``recall``: it serves an approach no camera watches) always has a demand.

Lanes shared by several phases count in each with the share of their vehicles that the
phase lets go (``shares``, phases x lanes, built by the caller from turning ratios).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LaneObservation:
    """Camera view of one intersection's incoming lanes (arrays in ``lanes`` order)."""

    queue_veh: FloatArray
    moving_near_veh: FloatArray
    moving_veh: FloatArray


@dataclass(frozen=True)
class TacticalDecision:
    hold: bool
    next_phase: int | None
    demand_by_phase: FloatArray


def decide(
    shares: FloatArray,
    current_phase: int,
    green_s: float,
    min_green_s: float,
    max_green_s: float,
    waiting_s: FloatArray,
    obs: LaneObservation,
    wait_weight_s: float = 60.0,
    recall: FloatArray | None = None,
) -> TacticalDecision:
    """One decision for one intersection (pure; see the module docstring for the rules).

    ``waiting_s`` is, per phase, the seconds since it last had green. ``recall``: per phase,
    a standing call (vehicles) that its demand never falls below, whatever is seen (a phase
    serving an approach that no camera watches).
    """
    demand = shares @ (obs.queue_veh + 0.5 * obs.moving_veh)
    if recall is not None:
        demand = np.maximum(demand, recall)
    weighted = demand * (1.0 + waiting_s / wait_weight_s)
    if green_s < min_green_s:
        return TacticalDecision(True, None, demand)
    # queued vehicles that do not move (a permissive left waiting for a gap) do not hold it
    serving = float(shares[current_phase] @ obs.moving_near_veh)
    others = weighted.copy()
    others[current_phase] = -np.inf
    # a phase whose lanes are all served by the current green as well has nothing to add
    others[demand <= 1e-9] = -np.inf
    best = int(np.argmax(others))
    if not np.isfinite(others[best]):
        return TacticalDecision(True, None, demand)  # rest: nobody else waits
    if green_s >= max_green_s or serving <= 0.0:
        return TacticalDecision(False, best, demand)
    return TacticalDecision(True, None, demand)

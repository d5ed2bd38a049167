"""Ground truth for judging the camera-based estimator, read straight from SUMO state.

Only benchmarks and tests use this; controllers never do (they read
:mod:`sumo_scenarios.sensing`). Definitions, per camera (approach) of the network:

* **arrival** of a vehicle at a movement: the moment it would reach the camera's view if
  it drove at the speed limit from where it first appeared on the approach (the whole link
  back to the previous real junction), attributed to the movement its route takes next.
  Queues on the approach therefore do not delay a truth arrival; spillback that blocks a
  vehicle from entering the approach at all does (we cannot see it before it appears);
* **queue** of a stop-line lane: SUMO halting vehicles (speed < 0.1 m/s) on that lane and
  on the upstream lanes of the approach that lead to it (``queue_veh``), and how many of
  them are beyond the camera's view (``beyond_view_veh``).

Arrivals are summed per ``bin_s`` bin aligned on ``origin_s`` (same convention as
:class:`counting.estimator.DemandEstimator`: a step ending at ``t`` belongs to the bin
containing ``t - epsilon``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from optimizer.intersection import IntersectionModel
from counting.camera_frame import STOPPED_SPEED_M_S
from sumo_scenarios.sensing import ViewLane, approach_lanes

WHOLE_APPROACH_M = 1e9


@dataclass
class _Approach:
    approach: str
    lanes: tuple[str, ...]
    chain: list[ViewLane]
    speed_m_s: list[float]
    movement_of_edge: dict[str, str]
    view_m: float
    seen: set[str] = field(default_factory=set)
    queue_veh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    beyond_view_veh: np.ndarray = field(default_factory=lambda: np.zeros(0))


class TruthRecorder:
    """``sample(time_s)`` once per step; then ``bins()``, ``queue_veh`` and ``beyond_view_veh``."""

    def __init__(self, conn: ModuleType, intersections: Mapping[str, IntersectionModel],
                 view_m: float | Mapping[str, float] = 100.0, bin_s: float = 300.0,
                 origin_s: float = 0.0) -> None:
        self._conn = conn
        self.bin_s = bin_s
        self.origin_s = origin_s
        self._arrivals: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._approaches: list[_Approach] = []
        for model in intersections.values():
            for approach in model.approaches:
                lanes = tuple(dict.fromkeys(l.from_lane for l in model.links if l.approach == approach))
                chain = approach_lanes(conn, approach, list(lanes), WHOLE_APPROACH_M)
                view = view_m.get(approach, 100.0) if isinstance(view_m, Mapping) else float(view_m)
                movement_of_edge = {e: m.id for m in model.movements if m.approach == approach for e in m.to_edges}
                speeds = [conn.lane.getMaxSpeed(vl.lane_id) for vl in chain]
                self._approaches.append(_Approach(approach, lanes, chain, speeds, movement_of_edge, view,
                                                  queue_veh=np.zeros(len(lanes)),
                                                  beyond_view_veh=np.zeros(len(lanes))))

    def sample(self, time_s: float) -> None:
        lane_api, vehicle = self._conn.lane, self._conn.vehicle
        for ap in self._approaches:
            queue = np.zeros(len(ap.lanes))
            beyond = np.zeros(len(ap.lanes))
            for vl, speed_m_s in zip(ap.chain, ap.speed_m_s):
                ids = lane_api.getLastStepVehicleIDs(vl.lane_id)
                if not ids:
                    continue
                for vid in ids:
                    if vid not in ap.seen:
                        ap.seen.add(vid)
                        dist = vl.offset_m + vl.length_m - vehicle.getLanePosition(vid)
                        self._arrive(ap, vid, time_s + max(dist - ap.view_m, 0.0) / max(speed_m_s, 1.0))
                halted = [vid for vid in ids if vehicle.getSpeed(vid) < STOPPED_SPEED_M_S]  # as the cameras
                queue[vl.stop_lane] += len(halted)
                if halted and vl.offset_m + vl.length_m > ap.view_m:
                    beyond[vl.stop_lane] += sum(
                        1 for vid in halted if vl.offset_m + vl.length_m - vehicle.getLanePosition(vid) > ap.view_m)
            ap.queue_veh, ap.beyond_view_veh = queue, beyond

    def _arrive(self, ap: _Approach, vid: str, arrival_s: float) -> None:
        try:
            route = self._conn.vehicle.getRoute(vid)
            movement = ap.movement_of_edge.get(route[route.index(ap.approach) + 1])
        except (ValueError, IndexError):
            return  # the route ends on the approach: it never reaches the stop line
        if movement is not None:
            index = math.ceil((arrival_s - self.origin_s) / self.bin_s - 1e-9) - 1
            self._arrivals[index][movement] += 1.0

    def bins(self) -> dict[float, dict[str, float]]:
        """True arrivals per movement (veh) per bin, keyed by bin start (s)."""
        return {self.origin_s + i * self.bin_s: dict(row) for i, row in sorted(self._arrivals.items())}

    @property
    def queue_veh(self) -> dict[str, float]:
        return {lane: float(q) for ap in self._approaches for lane, q in zip(ap.lanes, ap.queue_veh)}

    @property
    def beyond_view_veh(self) -> dict[str, float]:
        return {lane: float(q) for ap in self._approaches for lane, q in zip(ap.lanes, ap.beyond_view_veh)}

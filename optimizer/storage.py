"""Queue storage: how many vehicles an approach holds before the queue spills back.

Webster and HCM delay assume a queue has room. On short links (a cluster of lights a few
metres apart) and in turn bays it has not: the queue of one red blocks the junction or the
through lanes upstream, which the delay formulas never see and SUMO does. The simplest
consequence for a fixed-time plan is a **longest cycle**: a movement with flow ``q`` (veh/h
per lane) that is red for a fraction ``r`` of cycle ``C`` queues ``q r C / 3600`` vehicles
per lane, which must fit its storage ``N`` (veh per lane)::

    C <= N * 3600 / (q * r)

:func:`storage_cycle_cap_s` gives that bound for a plan (its red fractions) and
:func:`lane_storage_veh` the storage from the SUMO net: the lane's length plus the upstream
edges that feed only it (no junction where others merge), divided by a jam spacing of
``JAM_SPACING_M``. :mod:`optimizer.candidates` offers the plan at that cycle when the
analytical one is longer; SUMO chooses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan

JAM_SPACING_M = 7.5  # vehicle length plus the gap in a stopped queue (HCM uses 7.5 m for cars)
MAX_UPSTREAM_M = 500.0  # beyond this a queue is a link problem, not a timing one


def lane_storage_veh(net_file: Path, models: Mapping[str, IntersectionModel]) -> dict[str, float]:
    """Vehicles each approach lane stores: its length and the unbranched edges upstream of it."""
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    out: dict[str, float] = {}
    for model in models.values():
        for lane_id in model.incoming_lanes:
            lane = net.getLane(lane_id)
            length = float(lane.getLength())
            edge = lane.getEdge()
            while length < MAX_UPSTREAM_M:
                incoming = [e for e in edge.getIncoming() if e.getFunction() != "internal"]
                if len(incoming) != 1 or incoming[0].getToNode().getType() == "traffic_light":
                    break
                edge = incoming[0]
                if edge.getFromNode().getType() == "traffic_light":
                    length += float(edge.getLength())
                    break
                length += float(edge.getLength())
            out[lane_id] = length / JAM_SPACING_M
    return out


def storage_cycle_cap_s(plan: TimingPlan, models: Mapping[str, IntersectionModel], demand: DemandEstimate,
                        storage_veh: Mapping[str, float]) -> float:
    """Longest cycle at which every movement's red-time queue fits its shortest lane (inf if none binds)."""
    cap = math.inf
    for tls_id, ip in plan.intersections.items():
        model = models[tls_id]
        for movement in model.movements:
            flow = demand.flow(tls_id, movement.id)
            lanes = [lane for lane in movement.from_lanes if lane in storage_veh]
            if flow <= 0 or not lanes:
                continue
            green = sum(p.green_s for p in ip.phases if movement.id in model.phases[p.phase].movements)
            red_fraction = 1.0 - green / ip.cycle_s
            if red_fraction <= 0:
                continue
            per_lane = flow / len(movement.from_lanes)
            cap = min(cap, min(storage_veh[lane] for lane in lanes) * 3600.0 / (per_lane * red_fraction))
    return cap

"""Queue storage: how many vehicles an approach holds before the queue spills back.

Webster and HCM delay assume a queue has room. On short links (a cluster of lights a few
metres apart) and in turn bays it has not: the queue of one red blocks the junction or the
through lanes upstream, which the delay formulas never see and SUMO does. So storage is a
**constraint** of the optimisation (:func:`optimizer.webster.optimal_greens_s`): a movement
with arrivals ``a`` (veh/s per lane) that is red for ``C - A_m g`` seconds of the cycle
(``A_m g`` its effective green, :func:`optimizer.webster.service_matrix`) queues
``a (C - A_m g)`` vehicles per lane, which must fit the storage ``N`` of its shortest lane::

    a ((1 - A_m) g + L) <= N          (C = sum g + L, L the lost time)

linear in the greens ``g``: it bounds the cycle (every red grows with it) and moves green
to the movement with little room. The red-time queue is the queue at the end of red
(arrival rate x red, the deterministic queue); the back of queue grows a little further while
it discharges, which the margin in ``JAM_SPACING_M`` does not cover: on a link at its limit
SUMO may still show blocking, and ``phasewise optimize`` checks there.

:func:`lane_storage_veh` reads the storage from the SUMO net: the lane's length plus the
upstream edges that feed only it (no junction where others merge; for a turn lane, none with
fewer lanes: a turn bay's storage is the bay, beyond it the queue blocks a through lane),
divided by a jam spacing of ``JAM_SPACING_M``. :func:`storage_rows` builds the constraints of one intersection,
:func:`longest_cycle_s` the longest cycle at which they can all hold and
:func:`least_queue_veh` the shortest red-time queue any feasible plan gives a movement (above
its storage: the link is too short for any cycle). :mod:`optimizer.spillback` reports
movements whose queue a plan does not fit. Example::

    storage = lane_storage_veh(net_file, models)
    bounds = IntersectionBounds(storage_veh=storage)    # optimize_* respect it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog

from optimizer.intersection import IntersectionModel

FloatArray = npt.NDArray[np.float64]

JAM_SPACING_M = 7.5  # vehicle length plus the gap in a stopped queue (HCM uses 7.5 m for cars)
MAX_UPSTREAM_M = 500.0  # beyond this a queue is a link problem, not a timing one


def lane_storage_veh(net_file: Path, models: Mapping[str, IntersectionModel]) -> dict[str, float]:
    """Vehicles each approach lane stores: its length and the unbranched edges upstream of it."""
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    out: dict[str, float] = {}
    for model in models.values():
        for lane_id in model.incoming_lanes:
            through = any(link.turn == "through" for link in model.links if link.from_lane == lane_id)
            out[lane_id] = lane_storage_m(net, lane_id, through) / JAM_SPACING_M
    return out


def lane_storage_m(net: object, lane_id: str, through: bool = True) -> float:
    """Metres of queue a lane of a ``sumolib`` net holds before it reaches a junction where others
    merge or, for a lane serving no through movement (``through`` False), where its edge gains
    lanes (the lane is a turn bay)."""
    lane = net.getLane(lane_id)  # type: ignore[attr-defined]
    length = float(lane.getLength())
    edge = lane.getEdge()
    while length < MAX_UPSTREAM_M:
        incoming = [e for e in edge.getIncoming() if e.getFunction() != "internal"]
        if len(incoming) != 1 or incoming[0].getToNode().getType() == "traffic_light":
            break
        if not through and incoming[0].getLaneNumber() < edge.getLaneNumber():  # beyond a bay a through lane is blocked
            break
        edge = incoming[0]
        length += float(edge.getLength())
        if edge.getFromNode().getType() == "traffic_light":
            break
    return length


@dataclass(frozen=True)
class StorageRows:
    """Storage constraints of one intersection: ``arrival (red @ g + lost) <= storage``.

    One row per movement with demand and a lane of known storage: ``movements`` (index in
    ``model.movements``), ``lanes`` (its shortest lane), ``arrival_veh_s`` (per lane),
    ``red`` (``1 - A_m``, per phase), ``storage_veh``; ``lost_s`` the cycle's lost time.
    """

    movements: tuple[int, ...]
    lanes: tuple[str, ...]
    arrival_veh_s: FloatArray
    red: FloatArray
    storage_veh: FloatArray
    lost_s: float

    def __len__(self) -> int:
        return len(self.movements)

    @property
    def rows(self) -> FloatArray:
        """``rows @ g <= rhs``: the constraints as a linear program takes them."""
        return self.arrival_veh_s[:, None] * self.red

    @property
    def rhs(self) -> FloatArray:
        return self.storage_veh - self.arrival_veh_s * self.lost_s

    def queue_veh(self, greens_s: FloatArray) -> FloatArray:
        """Red-time queue per row (veh per lane) under ``greens_s``."""
        return self.arrival_veh_s * (self.red @ np.asarray(greens_s, float) + self.lost_s)

    def holds(self, greens_s: FloatArray, tolerance_veh: float = 1e-6) -> bool:
        return bool(np.all(self.queue_veh(greens_s) <= self.storage_veh + tolerance_veh))


def storage_rows(model: IntersectionModel, flows_veh_h: FloatArray, service: FloatArray, lost_s: float,
                 storage_veh: Mapping[str, float]) -> StorageRows:
    """The constraints of ``model`` (module docstring); ``service`` is ``A[m, p]``."""
    picked, lanes, arrival, storage = [], [], [], []
    for k, movement in enumerate(model.movements):
        known = [lane for lane in movement.from_lanes if lane in storage_veh]
        if flows_veh_h[k] <= 0 or not known or service[k].max() <= 0:
            continue
        shortest = min(known, key=lambda lane: storage_veh[lane])
        picked.append(k)
        lanes.append(shortest)
        arrival.append(flows_veh_h[k] / len(movement.from_lanes) / 3600.0)
        storage.append(storage_veh[shortest])
    red = 1.0 - service[picked] if picked else np.zeros((0, service.shape[1]))
    return StorageRows(tuple(picked), tuple(lanes), np.array(arrival, float), red, np.array(storage, float), lost_s)


def longest_cycle_s(rows: StorageRows, low: FloatArray, high: FloatArray) -> float | None:
    """The longest cycle (s) whose greens within ``low..high`` hold every queue; None when none does."""
    if not len(rows):
        return float(high.sum() + rows.lost_s)
    lp = linprog(-np.ones_like(low), A_ub=rows.rows, b_ub=rows.rhs, bounds=list(zip(low, high)))
    return float(-lp.fun + rows.lost_s) if lp.status == 0 else None


def least_queue_veh(rows: StorageRows, low: FloatArray, high: FloatArray, cycle_lo_s: float,
                    cycle_hi_s: float) -> FloatArray:
    """Per row, the shortest red-time queue of any plan with greens in ``low..high`` and a
    cycle in ``cycle_lo_s..cycle_hi_s`` (other movements' storage aside)."""
    ones = np.ones((1, len(low)))
    out = np.zeros(len(rows))
    for r in range(len(rows)):
        lp = linprog(rows.red[r], A_ub=np.vstack([ones, -ones]),
                     b_ub=[cycle_hi_s - rows.lost_s, rows.lost_s - cycle_lo_s], bounds=list(zip(low, high)))
        red_s = float(lp.fun) + rows.lost_s if lp.status == 0 else float(rows.red[r] @ high) + rows.lost_s
        out[r] = rows.arrival_veh_s[r] * red_s
    return out

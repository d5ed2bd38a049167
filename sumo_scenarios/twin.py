"""The gate's twin: a short SUMO scenario rebuilt from the camera-derived estimate alone.

The closed loop may read only what the cameras estimate (flows per movement, queues per
lane), never SUMO's vehicle state, so the twin the gate simulates is rebuilt from that
estimate every time:

* **entry approaches** (an approach edge no other traffic light of the model set feeds)
  receive Poisson arrivals over ``[0, horizon_s)`` at the sum of their movements' flows.
  Each vehicle starts a short way upstream of the stop line (back along single-predecessor
  edges, so it has room to queue) and departs on the ``best`` lane at the safe speed;
* **internal approaches** get their traffic from upstream: their own movement flows are
  used only as turning shares;
* **routes**: at every traffic light a vehicle picks one of its approach's movements with
  probability proportional to the movement's estimated flow (equal shares when the
  approach has no flow), drives onto the movement's exit edge and then follows the network
  (the only successor, else the straightest one, see :func:`TwinNetwork.continuation`) into
  the next approach or off the network. Routes are capped at ``MAX_ROUTE_EDGES`` edges and
  never revisit an edge;
* **initial queues**: ``queues_veh`` (lane id -> vehicles, rounded) become standing
  vehicles at time 0 on their lane, ``QUEUE_SPACING_M`` apart from the stop line back
  (``departSpeed="0"``). A queue longer than its lane is kept as a backlog that departs at
  time 0 from the start of the lane's edge chain as soon as there is room (its wait counts
  as departure delay).

Everything random comes from one ``numpy.random.Generator`` seeded with ``seed``: the same
estimate and seed give a byte-identical route file, which is how the gate runs both plans
on the same traffic (common random numbers). Vehicles use SUMO's default passenger type.

An approach is *internal* when following :meth:`TwinNetwork.continuation` from an exit edge
of another traffic light reaches it; traffic entering between two lights on unsignalised
side streets is therefore not modelled.

Example::

    scenario = build_twin(net_file, models, demand, {"W_J0_1": 6.0}, 900.0, seed=1, out_dir=Path("twin"))
    run(RunJob(scenario, seed=1, controller=partial(FixedPlanController, plan)))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sumolib

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel, Movement
from phasewise_errors import ScenarioError
from sumo_scenarios.scenario import Scenario

MAX_ROUTE_EDGES = 60
QUEUE_SPACING_M = 7.6  # default car 5 m + minimum gap 2.5 m, + 0.1 m: SUMO refuses an exact 2.5 m gap
MAX_LEAD_IN_M = 300.0  # how far upstream of an entry approach arrivals start
VEHICLE_CLASS = "passenger"
# Preference among several successors of an unsignalised edge (SUMO link directions):
# straight first, then partial turns, then turns; never a U-turn.
_DIRECTION_RANK = {"s": 0, "R": 1, "L": 1, "r": 2, "l": 2}


@dataclass(frozen=True)
class _Approach:
    tls_id: str
    movements: tuple[Movement, ...]


class TwinNetwork:
    """The routing view of a network for twin building: successors, approaches, entries.

    Built once per (network, model set) and reused for every twin; pure lookups after that.
    """

    def __init__(self, net_file: Path, models: dict[str, IntersectionModel]):
        try:
            self.net = sumolib.net.readNet(str(net_file))
        except Exception as exc:  # sumolib raises bare SAX errors
            raise ScenarioError(f"{net_file}: cannot read SUMO network ({exc})") from None
        self.net_file = Path(net_file)
        self.models = models
        by_edge: dict[str, tuple[str, list[Movement]]] = {}
        for tls_id, model in models.items():
            for movement in model.movements:
                by_edge.setdefault(movement.approach, (tls_id, []))[1].append(movement)
        self.approaches = {edge: _Approach(tls, tuple(ms)) for edge, (tls, ms) in by_edge.items()}
        self.internal_approaches = self._internal_approaches()
        self.entry_approaches = tuple(a for a in self.approaches if a not in self.internal_approaches)

    def continuation(self, edge_id: str) -> str | None:
        """The edge an unsignalised edge leads on to: the only successor, else the straightest
        (ties broken by edge id); ``None`` at the network's end."""
        edge = self.net.getEdge(edge_id)
        ranked = []
        for successor, connections in edge.getAllowedOutgoing(VEHICLE_CLASS).items():
            if successor.getFunction() == "internal":
                continue
            rank = min((_DIRECTION_RANK.get(c.getDirection(), 9) for c in connections), default=9)
            if rank < 9:
                ranked.append((rank, successor.getID()))
        return min(ranked)[1] if ranked else None

    def lead_in(self, approach: str) -> list[str]:
        """Edges from the start of an entry's lead-in up to and including ``approach``: back
        along single-predecessor edges that no traffic light exits onto, up to ``MAX_LEAD_IN_M``."""
        edges = [approach]
        length = self.net.getEdge(approach).getLength()
        exits = self._exit_edges()
        while length < MAX_LEAD_IN_M:
            incoming = [e for e in self.net.getEdge(edges[0]).getIncoming() if e.getFunction() != "internal"]
            if len(incoming) != 1 or incoming[0].getID() in exits or incoming[0].getID() in edges:
                break
            edges.insert(0, incoming[0].getID())
            length += incoming[0].getLength()
        return edges

    def route(
        self, start: list[str], rng: np.random.Generator, demand: DemandEstimate, from_lane: str | None = None
    ) -> list[str]:
        """Continue ``start`` (edges already chosen) through the network, picking a movement at
        every approach by its estimated share, until the network ends or the cap is reached.

        ``from_lane`` (a lane of the last start edge) restricts the first choice to the
        movements that lane serves: a vehicle standing in a left-turn bay turns left.
        """
        edges = list(start)
        seen = set(edges)
        while len(edges) < MAX_ROUTE_EDGES:
            nxt = self._next_edge(edges[-1], rng, demand, from_lane if len(edges) == len(start) else None)
            if nxt is None or nxt in seen:
                break
            edges.append(nxt)
            seen.add(nxt)
        return edges

    def connected(self, edges: list[str]) -> bool:
        """Whether every consecutive pair of ``edges`` is joined by a connection."""
        try:
            return all(
                self.net.getEdge(b) in self.net.getEdge(a).getOutgoing() for a, b in zip(edges, edges[1:])
            )
        except KeyError:
            return False

    def _next_edge(
        self, edge_id: str, rng: np.random.Generator, demand: DemandEstimate, from_lane: str | None
    ) -> str | None:
        approach = self.approaches.get(edge_id)
        if approach is None:
            return self.continuation(edge_id)
        movements = approach.movements
        if from_lane is not None:
            movements = tuple(m for m in movements if from_lane in m.from_lanes) or movements
        flows = np.array([demand.flow(approach.tls_id, m.id) for m in movements], dtype=float)
        shares = flows / flows.sum() if flows.sum() > 0 else np.full(len(movements), 1.0 / len(movements))
        movement = movements[int(rng.choice(len(movements), p=shares))]
        if not movement.to_edges:
            return None
        return movement.to_edges[int(rng.integers(len(movement.to_edges)))]

    def _exit_edges(self) -> frozenset[str]:
        return frozenset(e for a in self.approaches.values() for m in a.movements for e in m.to_edges)

    def _internal_approaches(self) -> frozenset[str]:
        internal = set()
        for approach in self.approaches.values():
            for movement in approach.movements:
                for exit_edge in movement.to_edges:
                    edge: str | None = exit_edge
                    seen: set[str] = set()
                    while edge is not None and edge not in seen and self.net.hasEdge(edge):
                        seen.add(edge)
                        reached = self.approaches.get(edge)
                        if reached is not None:
                            if reached.tls_id != approach.tls_id:
                                internal.add(edge)
                            break
                        edge = self.continuation(edge)
        return frozenset(internal)


def build_twin(
    net_file: Path,
    models: dict[str, IntersectionModel],
    demand: DemandEstimate,
    queues_veh: Mapping[str, float],
    horizon_s: float,
    seed: int,
    out_dir: Path,
    *,
    network: TwinNetwork | None = None,
    sumo_options: tuple[str, ...] = (),
) -> Scenario:
    """Write the twin's route file to ``out_dir`` and return the scenario over ``[0, horizon_s)``.

    ``demand`` flows are veh/h per tls and movement; ``queues_veh`` maps lane ids to the
    estimated standing queue in vehicles (unknown lanes raise ``ScenarioError``). Pass a
    prebuilt ``network`` to skip reading the network again; ``sumo_options`` are those of the
    real scenario (see :class:`~sumo_scenarios.scenario.Scenario`). Routes that are not
    connected in the network are dropped.
    """
    if horizon_s <= 0:
        raise ScenarioError(f"twin horizon must be positive, got {horizon_s:g} s")
    network = network if network is not None else TwinNetwork(Path(net_file), models)
    rng = np.random.default_rng(seed)
    vehicles = [*_queued_vehicles(network, queues_veh, rng, demand), *_arrivals(network, demand, horizon_s, rng)]
    vehicles = [v for v in vehicles if network.connected(v.edges)]
    vehicles.sort(key=lambda v: v.depart_s)  # stable: queues first, front of each queue first
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    route_file = out / f"twin_s{seed}.rou.xml"
    header = f"<!-- phasewise twin: seed={seed} horizon={horizon_s:g} s vehicles={len(vehicles)} -->\n"
    route_file.write_text(header + "<routes>\n" + "".join(v.xml() for v in vehicles) + "</routes>\n", encoding="utf-8")
    return Scenario(name=f"twin-s{seed}", net_file=Path(net_file), route_files=(route_file,), begin_s=0.0, end_s=float(horizon_s),
                    sumo_options=tuple(sumo_options))


@dataclass(frozen=True)
class _Vehicle:
    id: str
    depart_s: float
    edges: list[str]
    depart_lane: str = "best"
    depart_pos: str = "base"
    depart_speed: str = "max"

    def xml(self) -> str:
        return (
            f'    <vehicle id="{self.id}" depart="{self.depart_s:.2f}" departLane="{self.depart_lane}" '
            f'departPos="{self.depart_pos}" departSpeed="{self.depart_speed}">\n'
            f'        <route edges="{" ".join(self.edges)}"/>\n    </vehicle>\n'
        )


def _arrivals(network: TwinNetwork, demand: DemandEstimate, horizon_s: float, rng: np.random.Generator) -> list[_Vehicle]:
    """Poisson arrivals at every entry approach (in network order, so seeds reproduce)."""
    out = []
    for approach_edge in network.entry_approaches:
        approach = network.approaches[approach_edge]
        flow_veh_h = sum(demand.flow(approach.tls_id, m.id) for m in approach.movements)
        count = int(rng.poisson(flow_veh_h * horizon_s / 3600.0))
        departs_s = np.sort(rng.uniform(0.0, horizon_s, count))
        lead_in = network.lead_in(approach_edge)
        for k, depart_s in enumerate(departs_s):
            out.append(_Vehicle(f"a.{approach_edge}.{k}", float(depart_s), network.route(lead_in, rng, demand)))
    return out


def _queued_vehicles(
    network: TwinNetwork, queues_veh: Mapping[str, float], rng: np.random.Generator, demand: DemandEstimate
) -> list[_Vehicle]:
    """Standing vehicles at time 0 for each estimated lane queue; the overflow as a backlog."""
    out = []
    for lane_id in sorted(queues_veh):
        count = int(round(max(float(queues_veh[lane_id]), 0.0)))
        if count == 0:
            continue
        try:
            lane = network.net.getLane(lane_id)
        except KeyError:
            raise ScenarioError(f"queue estimate for lane '{lane_id}', which the network does not have") from None
        edge_id = lane.getEdge().getID()
        room = int(max(lane.getLength() - 0.5, 0.0) // QUEUE_SPACING_M)
        for k in range(count):
            if k < room:
                pos_m = lane.getLength() - 0.5 - k * QUEUE_SPACING_M
                vehicle = _Vehicle(f"q.{lane_id}.{k}", 0.0, network.route([edge_id], rng, demand, lane_id),
                                   depart_lane=str(lane.getIndex()), depart_pos=f"{pos_m:.1f}", depart_speed="0")
            else:
                start = network.lead_in(edge_id)
                vehicle = _Vehicle(f"q.{lane_id}.{k}", 0.0, network.route(start, rng, demand, lane_id), depart_speed="0")
            out.append(vehicle)
    return out

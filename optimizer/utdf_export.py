"""Write a plan and its volumes as Synchro's combined UTDF file, in Synchro 8's own structure.

:func:`write_utdf` writes what Synchro's *UTDF 8 combined* export holds (sections, title
lines, headers and record names as in a real Synchro export, e.g. the ``UTDF8.csv`` inside the
``utdf2gmns`` package), from the SUMO net's geometry (:class:`UtdfNetwork`) and the plan:

* ``[Network]``: ``UTDFVERSION`` 8, ``Metric`` 1 (metres, km/h), the default clearances, walk
  times and ideal saturation flow;
* ``[Nodes]``: the traffic lights as ``INTID`` 1..n (``TYPE`` 0, ``DESCRIPTION`` = the SUMO
  traffic light id), then the nodes at the other end of their approaches and exits
  (``TYPE`` 1, external), with SUMO's x/y in metres;
* ``[Links]``: per node and direction of travel (``NB``...``SW``), the link entering it:
  ``Up ID``, ``Lanes``, ``Name`` (the street name, else the edge id), ``Distance`` (m),
  ``Speed`` (km/h), ``Time`` (s);
* ``[Lanes]``: per movement column (``NBL``, ``EBT``...; ``U`` for U-turns): ``Up Node``,
  ``Dest Node``, ``Lanes`` (shared lanes count as through lanes, ``Shared`` 1 left, 2 right,
  3 both), ``Width`` (m), ``Speed`` (km/h), ``Phase1`` (protected NEMA phase), ``PermPhase1``
  (permitted), ``IdealFlow`` (veh/h/lane), ``Volume`` (veh/h), ``PHF`` 1, ``Growth`` 100,
  ``Distance``, ``TravelTime``;
* ``[Timeplans]``: ``Control Type`` 0 (pretimed), ``Cycle Length``, ``Referenced To`` 0 (the
  last reference phase to turn green), ``Reference Phase`` (the coordinated phase's NEMA
  phases, two as ``206``), ``Offset`` (the plan's), ``Node 0``/``Node 1``;
* ``[Phases]`` (``Phasing Data``): per NEMA phase ``D1``..``D8`` (numbers from
  :mod:`optimizer.nema_numbering`): ``BRP``, ``MinGreen``, ``MaxGreen`` (the plan's green,
  fixed time), ``Yellow``, ``AllRed``, ``Recall`` 3 (max: fixed time), ``Walk`` and ``DontWalk``
  where the phase serves a pedestrian crossing (walk 7 s; flashing don't walk = the crossing's
  length at 1.07 m/s, 3.5 ft/s; or the plan's pedestrian minimum), ``MinSplit``, ``Start`` and
  ``End`` (seconds in the cycle, system clock), ``Yield`` (start of yellow), ``Local*`` (from
  the offset), ``ActGreen``. A NEMA phase green through several model phases (e.g. a left
  turn leading into its through) has the split of all of them.

:func:`write_tmc_volumes` writes Synchro's separate volume file (``Turning Movement Count``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.nema_numbering import RingStructure, standard_numbering
from optimizer.plan import IntersectionPlan, TimingPlan
from optimizer.utdf import DIRECTIONS, SECTION_TITLES, TURN_CODES
from phasewise_errors import ConfigError

WALK_S = 7.0  # Synchro's default walk interval
PED_SPEED_M_S = 1.07  # 3.5 ft/s, MUTCD walking speed for the pedestrian clearance
MAX_BEND_DEG = 60.0  # edges joined at a sharper angle are two roads, not one
COMPASS = ("NB", "NE", "EB", "SE", "SB", "SW", "WB", "NW")  # by bearing, 45 degrees apart
LANE_RECORDS = ("Up Node", "Dest Node", "Lanes", "Shared", "Width", "Storage", "Speed", "Phase1", "PermPhase1", "IdealFlow",
                "Volume", "PHF", "Growth", "Distance", "TravelTime")
PHASE_RECORDS = ("BRP", "MinGreen", "MaxGreen", "VehExt", "TimeBeforeReduce", "TimeToReduce", "MinGap", "Yellow",
                 "AllRed", "Recall", "Walk", "DontWalk", "PedCalls", "MinSplit", "DualEntry", "InhibitMax", "Start",
                 "End", "Yield", "Yield170", "LocalStart", "LocalYield", "LocalYield170", "ActGreen")


@dataclass(frozen=True)
class Link:
    """A road entering a node: the SUMO edge, its direction of travel and what Synchro records of it."""

    edge: str
    direction: str  # NB, SB, EB, WB, NE, NW, SE, SW
    bearing_deg: float  # direction of travel at the node, 0 = north, clockwise
    up_node: str  # node key (a traffic light id or a SUMO junction id)
    name: str
    length_m: float
    speed_km_h: float
    lanes: int  # mid-block
    lane_width_m: float  # at the stop line
    bay_m: float = 0.0  # length of the turn bay (lanes added before the node), 0 if none


@dataclass(frozen=True)
class UtdfNetwork:
    """The nodes and links of the UTDF file, from the SUMO net (:func:`utdf_network`).

    ``node_ids``: node key -> ``INTID`` (traffic lights 1..n first); ``links``: node key ->
    edge -> :class:`Link` entering it; ``dest_nodes``: traffic light -> movement -> node key;
    ``crossings_m``: traffic light -> signal index of a pedestrian crossing -> its length (m).
    """

    signals: tuple[str, ...]
    node_ids: dict[str, int]
    node_xy: dict[str, tuple[float, float]]
    links: dict[str, dict[str, Link]]
    dest_nodes: dict[str, dict[str, str]]
    crossings_m: dict[str, dict[int, float]]

    @property
    def directions(self) -> dict[str, dict[str, str]]:
        """Traffic light -> approach edge -> direction of travel (``EB``...)."""
        return {t: {e: link.direction for e, link in self.links[t].items()} for t in self.signals}

    def bearings(self, tls_id: str) -> dict[str, float]:
        return {e: link.bearing_deg for e, link in self.links[tls_id].items()}


def utdf_network(net_file: Path, models: Mapping[str, IntersectionModel], tls_ids: list[str]) -> UtdfNetwork:
    """Nodes, links and crossings of ``tls_ids`` and their neighbours, from the net (sumolib)."""
    import sumolib

    net = sumolib.net.readNet(str(net_file), withPedestrianConnections=True)
    key: dict[str, str] = {}  # SUMO junction id -> node key (the tls id for a light's junctions)
    crossings: dict[str, dict[int, float]] = {}
    for tls_id in tls_ids:
        model = models[tls_id]
        for approach in model.approaches:
            key[net.getEdge(approach).getToNode().getID()] = tls_id
        crossings[tls_id] = {}
        links = {link.index for link in model.links}
        for _, out_lane, index in net.getTLS(tls_id).getConnections():
            if index not in links and out_lane.getEdge().getFunction() == "crossing":
                crossings[tls_id][index] = out_lane.getLength()
    node_ids = {t: k + 1 for k, t in enumerate(tls_ids)}
    xy: dict[str, list[tuple[float, float]]] = {}

    def node_of(junction: sumolib.net.node.Node) -> str:
        k = key.get(junction.getID(), junction.getID())
        node_ids.setdefault(k, len(node_ids) + 1)
        xy.setdefault(k, []).append(junction.getCoord()[:2])
        return k

    all_links: dict[str, dict[str, Link]] = {}
    signal_junctions = set(key)

    def add(edge: sumolib.net.edge.Edge) -> str:
        """Add the road ending with ``edge`` (back to where it begins); the node it enters."""
        chain = _road(edge, signal_junctions, upstream=True)
        to = node_of(edge.getToNode())
        if edge.getID() not in all_links.get(to, {}):
            all_links.setdefault(to, {})[edge.getID()] = _link(chain, node_of(chain[0].getFromNode()))
        return to

    dest: dict[str, dict[str, str]] = {}
    for tls_id in tls_ids:
        for approach in models[tls_id].approaches:
            add(net.getEdge(approach))
        for m in models[tls_id].movements:
            road = _road(net.getEdge(m.to_edges[0]), signal_junctions, upstream=False)
            dest.setdefault(tls_id, {})[m.id] = add(road[-1])
    for links in all_links.values():
        _unique_directions(links)
    centre = {k: (sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)) for k, pts in xy.items()}
    return UtdfNetwork(tuple(tls_ids), node_ids, centre, all_links, dest, crossings)


def _road(edge: object, signals: set[str], upstream: bool, max_edges: int = 50) -> list:
    """The SUMO edges of one road, in driving order: from ``edge`` on (``upstream``: back) through
    junctions that only join two edges of it (a lane added for a turn bay, a change of speed)."""
    chain = [edge]
    for _ in range(max_edges):
        end = chain[0].getFromNode() if upstream else chain[-1].getToNode()  # type: ignore[attr-defined]
        if end.getID() in signals or end.getType() == "dead_end":
            break
        ahead = chain[0] if upstream else chain[-1]
        far = ahead.getToNode() if upstream else ahead.getFromNode()  # type: ignore[attr-defined]
        incoming = [e for e in end.getIncoming() if not e.getID().startswith(":")]  # not the junction's inside
        outgoing = [e for e in end.getOutgoing() if not e.getID().startswith(":")]
        if len({e.getFromNode() for e in incoming} | {e.getToNode() for e in outgoing}) != 2:
            break  # a real junction (or a dead end): the road begins (ends) here
        onward = ([e for e in incoming if e.getFromNode() is not far] if upstream
                  else [e for e in outgoing if e.getToNode() is not far])
        if len(onward) != 1:
            break
        nxt = onward[0]
        if _turn_deg(nxt, ahead) > MAX_BEND_DEG:
            break  # the road turns back (a U-turn at the network's edge): no longer one road
        if nxt in chain:
            break
        chain = [nxt, *chain] if upstream else [*chain, nxt]
    return chain


def _bearing_deg(edge: object, at_end: bool) -> float:
    shape = edge.getShape()  # type: ignore[attr-defined]
    (x0, y0), (x1, y1) = [p[:2] for p in (shape[-2:] if at_end else shape[:2])]
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360


def _turn_deg(a: object, b: object) -> float:
    """How much the road turns between two edges joined end to start (either order), degrees."""
    d = abs(_bearing_deg(a, True) - _bearing_deg(b, False))
    e = abs(_bearing_deg(b, True) - _bearing_deg(a, False))
    return min(min(d, 360 - d), min(e, 360 - e))


def _link(chain: list, up_node: str) -> Link:
    """The road ``chain`` (SUMO edges in driving order) as the link entering its last edge's end."""
    last = chain[-1]
    bearing = _bearing_deg(last, at_end=True)
    lanes = last.getLanes()
    length = sum(e.getLength() for e in chain)
    speed = min(e.getSpeed() for e in chain) * 3.6
    bay = last.getLength() if len(chain) > 1 and last.getLaneNumber() > chain[-2].getLaneNumber() else 0.0
    name = next((e.getName() for e in chain if e.getName()), chain[0].getID())
    return Link(last.getID(), COMPASS[round(bearing / 45) % 8], bearing, up_node, name, length, speed,
                chain[0].getLaneNumber(), sum(lane.getWidth() for lane in lanes) / len(lanes), bay)


def _unique_directions(links: dict[str, Link]) -> None:
    """Two links travelling the same way into one node: the later takes the next nearest name."""
    import dataclasses

    taken: set[str] = set()
    for edge, link in links.items():
        order = sorted(range(8), key=lambda k: min(abs(link.bearing_deg - 45 * k), 360 - abs(link.bearing_deg - 45 * k)))
        name = next(COMPASS[k] for k in order if COMPASS[k] not in taken)
        taken.add(name)
        links[edge] = dataclasses.replace(link, direction=name)


def approach_directions(net_file: Path, models: Mapping[str, IntersectionModel]) -> dict[str, dict[str, str]]:
    """Traffic light -> approach edge -> compass direction of travel, from the net's geometry."""
    return utdf_network(net_file, models, list(models)).directions


def numberings(models: Mapping[str, IntersectionModel], network: UtdfNetwork, plan: TimingPlan | None = None,
               site: Mapping[str, RingStructure] | None = None) -> dict[str, RingStructure]:
    """Per traffic light: the site's NEMA mapping where given, else :func:`standard_numbering`."""
    out = {}
    for tls_id in network.signals:
        sequence = plan.intersections[tls_id].sequence if plan is not None and tls_id in plan.intersections else None
        given = (site or {}).get(tls_id)
        if given is not None and sequence is not None and given.runs(sequence) is None:
            raise ConfigError(f"{tls_id}: the plan's phase sequence {list(sequence)} does not run the NEMA mapping's "
                              "phases in ring order; fix the mapping's rings or leave it out")
        out[tls_id] = given or standard_numbering(models[tls_id], network.bearings(tls_id), sequence)
    return out


def _n(value: float) -> str:
    """A number as Synchro writes it: at most two decimals, no trailing zeros."""
    return f"{round(value, 2):g}"


def write_utdf(plan: TimingPlan, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
               demand: DemandEstimate | None = None, numbering: Mapping[str, RingStructure] | None = None,
               ideal_flow_veh_h_lane: float = 1800.0) -> str:
    """The combined UTDF text of ``plan`` (and the volumes of ``demand``), Synchro 8's structure."""
    rings = numbering or numberings(models, network, plan)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # Synchro writes Windows line ends
    yellow = min(p.yellow_s for ip in plan.intersections.values() for p in ip.phases)
    all_red = min(p.all_red_s for ip in plan.intersections.values() for p in ip.phases)
    _section(w, "Network", ["RECORDNAME", "DATA"], [
        ["UTDFVERSION", 8], ["Metric", 1], ["yellowTime", _n(yellow)], ["allRedTime", _n(all_red)],
        ["Walk", _n(WALK_S)], ["DefFlow", _n(ideal_flow_veh_h_lane)], ["PHF", 1], ["growth", "1.00"],
        ["PedSpeed", _n(PED_SPEED_M_S)]])
    _section(w, "Nodes", ["INTID", "TYPE", "X", "Y", "Z", "DESCRIPTION", "CBD", "Inside Radius", "Outside Radius",
                          "Roundabout Lanes", "Circle Speed"],
             [[n, 0 if k in network.signals else 1, _n(network.node_xy[k][0]), _n(network.node_xy[k][1]), 0,
               k if k in network.signals else "", "", "", "", "", ""] for k, n in network.node_ids.items()])
    _section(w, "Links", ["RECORDNAME", "INTID", *DIRECTIONS], _link_rows(network))
    _section(w, "Lanes", ["RECORDNAME", "INTID", *_lane_columns(models, network), "PED", "HOLD"],
             _lane_rows(plan, models, network, rings, demand, ideal_flow_veh_h_lane))
    timeplans = []
    for tls_id, ip in plan.intersections.items():
        node = network.node_ids[tls_id]
        timeplans += [["Control Type", node, 0], ["Cycle Length", node, _n(ip.cycle_s)], ["Lock Timings", node, 0],
                      ["Referenced To", node, 0], ["Reference Phase", node, _reference(rings[tls_id], ip)],
                      ["Offset", node, _n(ip.offset_s)], ["Master", node, 0], ["Yield", node, 0],
                      ["Node 0", node, node], ["Node 1", node, 0]]
    _section(w, "Timeplans", ["RECORDNAME", "INTID", "DATA"], timeplans)
    n_columns = max(8, *(max(rings[t].phases) for t in plan.intersections))
    phase_rows = []
    for tls_id, ip in plan.intersections.items():
        values = _phase_values(ip, models[tls_id], rings[tls_id], network.crossings_m.get(tls_id, {}))
        for name in PHASE_RECORDS:
            phase_rows.append([name, network.node_ids[tls_id],
                               *(values[p].get(name, "") if p in values else "" for p in range(1, n_columns + 1))])
    _section(w, "Phases", ["RECORDNAME", "INTID", *(f"D{p}" for p in range(1, n_columns + 1))], phase_rows, last=True)
    return buf.getvalue()


def _section(w: object, name: str, header: list[str], rows: list[list[object]], last: bool = False) -> None:
    w.writerows([[f"[{name}]"], [SECTION_TITLES[name]], header, *rows])  # type: ignore[attr-defined]
    if not last:
        w.writerow([])  # type: ignore[attr-defined]


def _link_rows(network: UtdfNetwork) -> list[list[object]]:
    rows = []
    for key, node in network.node_ids.items():
        by_dir = {link.direction: link for link in network.links.get(key, {}).values()}
        if not by_dir:
            continue
        for record, value in (("Up ID", lambda k: network.node_ids[k.up_node]), ("Lanes", lambda k: k.lanes),
                              ("Name", lambda k: k.name.replace(",", " ")), ("Distance", lambda k: _n(k.length_m)),
                              ("Speed", lambda k: _n(k.speed_km_h)),
                              ("Time", lambda k: _n(k.length_m / max(k.speed_km_h / 3.6, 0.1)))):
            rows.append([record, node, *(value(by_dir[d]) if d in by_dir else "" for d in DIRECTIONS)])
    return rows


def _column(network: UtdfNetwork, model: IntersectionModel, movement_id: str) -> str:
    m = model.movement(movement_id)
    return network.links[model.tls_id][m.approach].direction + TURN_CODES[m.turn]


def _lane_columns(models: Mapping[str, IntersectionModel], network: UtdfNetwork) -> list[str]:
    """The movement columns the network has, in Synchro's order (direction, then U, L, T, R)."""
    used = {_column(network, models[t], m.id) for t in network.signals for m in models[t].movements}
    return [d + c for d in DIRECTIONS for c in TURN_CODES.values() if d + c in used]


def _lane_groups(model: IntersectionModel, approach: str) -> dict[str, tuple[int, int]]:
    """Turn -> (lanes, shared code) as Synchro counts lane groups: a lane used by the through
    movement is a through lane (shared with left 1, right 2, both 3); a left-and-right lane
    without through counts as a left lane shared with the right; other lanes are exclusive."""
    turns_of: dict[str, set[str]] = {}
    for m in model.movements:
        if m.approach == approach and m.turn != "uturn":
            for lane in m.from_lanes:
                turns_of.setdefault(lane, set()).add(m.turn)
    count = {t: 0 for t in ("left", "through", "right")}
    shared = {t: 0 for t in count}
    for turns in turns_of.values():
        if "through" in turns:
            count["through"] += 1
            shared["through"] |= (1 if "left" in turns else 0) | (2 if "right" in turns else 0)
        elif turns == {"left", "right"}:
            count["left"] += 1
            shared["left"] |= 2
        else:
            count[next(iter(turns))] += 1
    return {t: (count[t], shared[t]) for t in count}


def _serving_phases(model: IntersectionModel, ring: RingStructure, movement_id: str) -> tuple[int | None, int | None]:
    """(protected, permitted) NEMA phase of a movement: a phase in all of whose stages the
    movement is green (``G``: protected, else permitted); among several, the one spanning the
    most stages, then the movement's own phase (:attr:`RingStructure.movement_phases`), then the
    one that also serves its approach's through movement (Synchro's habit: a permitted left on
    its through's phase)."""
    movement = model.movement(movement_id)
    throughs = [m for m in model.movements if m.approach == movement.approach and m.turn == "through"]
    through = [i for m in throughs for i in m.link_indices]
    through_phase = ring.movement_phases.get(throughs[0].id) if throughs else None
    protected, permitted = [], []
    for p in ring.phases:
        stages = [k for k, s in enumerate(ring.stages) if p in s]
        chars = [model.phases[k].state[i] for k in stages for i in movement.link_indices]
        own = p == through_phase if through_phase is not None else (
            bool(through) and all(model.phases[k].state[i] in "Gg" for k in stages for i in through))
        if chars and all(c == "G" for c in chars):
            protected.append((-len(stages), ring.movement_phases.get(movement_id) != p, not own, p))
        elif chars and all(c in "Gg" for c in chars):
            permitted.append((-len(stages), ring.movement_phases.get(movement_id) != p, not own, p))
    return (min(protected)[-1] if protected else None), (min(permitted)[-1] if permitted else None)


def _lane_rows(plan: TimingPlan, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
               rings: Mapping[str, RingStructure], demand: DemandEstimate | None, ideal_flow: float) -> list[list[object]]:
    columns = _lane_columns(models, network)
    rows = []
    for tls_id in plan.intersections:
        model, node = models[tls_id], network.node_ids[tls_id]
        cells: dict[str, dict[str, object]] = {}
        volumes = demand.of(tls_id) if demand is not None else {}
        for m in model.movements:
            link = network.links[tls_id][m.approach]
            lanes, shared = _lane_groups(model, m.approach).get(m.turn, (0, 0))
            protected, permitted = _serving_phases(model, rings[tls_id], m.id)
            cells[_column(network, model, m.id)] = {
                "Up Node": network.node_ids[link.up_node],
                "Dest Node": network.node_ids[network.dest_nodes[tls_id][m.id]],
                "Lanes": lanes, "Shared": shared if m.turn == "through" or (m.turn == "left" and shared) else "",
                "Width": _n(link.lane_width_m),
                "Storage": _n(link.bay_m) if link.bay_m and m.turn in ("left", "right") and lanes else "",
                "Speed": _n(link.speed_km_h), "Phase1": protected or "",
                "PermPhase1": permitted or "", "IdealFlow": _n(ideal_flow),
                "Volume": f"{volumes[m.id]:.0f}" if m.id in volumes else "", "PHF": 1, "Growth": 100,
                "Distance": _n(link.length_m) if m.turn == "through" else "",
                "TravelTime": _n(link.length_m / max(link.speed_km_h / 3.6, 0.1)) if m.turn == "through" else ""}
        for record in LANE_RECORDS:
            if record == "Volume" and demand is None:
                continue
            rows.append([record, node, *(cells[c][record] if c in cells else "" for c in columns), "", ""])
    return rows


def _reference(ring: RingStructure, ip: IntersectionPlan) -> int:
    """Synchro's ``Reference Phase``: one NEMA phase, or two as ring-1 phase * 100 + ring-2 phase."""
    phases = sorted(ring.stages[ip.coordinated_phase], key=ring.ring_of)
    return phases[0] * 100 + phases[1] if len(phases) >= 2 else phases[0]


def _phase_values(ip: IntersectionPlan, model: IntersectionModel, ring: RingStructure,
                  crossings_m: Mapping[int, float]) -> dict[int, dict[str, object]]:
    """NEMA phase -> its ``[Phases]`` records for the plan (module docstring)."""
    sequence = ip.sequence
    runs = ring.runs(sequence)
    if runs is None:
        raise ConfigError(f"{ip.tls_id}: the plan's phase sequence {list(sequence)} does not run its NEMA phases "
                          "in ring order")
    brp = ring.brp_codes(sequence)
    cycle, begin = ip.cycle_s, ip.sequence_start_s()
    reference = set(ring.stages[ip.coordinated_phase])
    out = {}
    for p, run in runs.items():
        timings = [ip.phases[i] for i in run]
        last = timings[-1]
        split = sum(t.split_s for t in timings)
        green = split - last.yellow_s - last.all_red_s
        start = (begin + ip.green_start_s(timings[0].phase)) % cycle
        walk, dont_walk = _pedestrian(p, ring, model, crossings_m, max(t.ped_min_s for t in timings))
        min_green = last.min_green_s
        yield_s = (start + green) % cycle
        values: dict[str, object] = {
            "BRP": brp[p], "MinGreen": _n(min_green), "MaxGreen": _n(green), "VehExt": 3, "TimeBeforeReduce": 0,
            "TimeToReduce": 0, "MinGap": 3, "Yellow": _n(last.yellow_s), "AllRed": _n(last.all_red_s), "Recall": 3,
            "MinSplit": _n(max(min_green, (walk or 0) + (dont_walk or 0)) + last.yellow_s + last.all_red_s),
            "DualEntry": 1 if p in reference else 0, "InhibitMax": 1, "Start": _n(start), "End": _n((start + split) % cycle),
            "Yield": _n(yield_s), "LocalStart": _n((start - ip.offset_s) % cycle),
            "LocalYield": _n((yield_s - ip.offset_s) % cycle), "ActGreen": _n(green)}
        yield170 = (yield_s - (dont_walk or 0)) % cycle if p in reference else yield_s
        values["Yield170"], values["LocalYield170"] = _n(yield170), _n((yield170 - ip.offset_s) % cycle)
        if walk is not None:
            values.update({"Walk": _n(walk), "DontWalk": _n(dont_walk or 0), "PedCalls": 0})
        out[p] = values
    return out


def _pedestrian(p: int, ring: RingStructure, model: IntersectionModel, crossings_m: Mapping[int, float],
                ped_min_s: float) -> tuple[float | None, float | None]:
    """(walk, flashing don't walk) of a NEMA phase whose stages show a crossing green; (None, None) else."""
    stages = [k for k, s in enumerate(ring.stages) if p in s]
    served = [length for index, length in crossings_m.items() if any(model.phases[k].state[index] in "Gg" for k in stages)]
    if not served:
        return None, None
    if ped_min_s > 0:
        walk = min(WALK_S, ped_min_s)
        return walk, ped_min_s - walk
    return WALK_S, float(math.ceil(max(served) / PED_SPEED_M_S))


def write_tmc_volumes(demand: DemandEstimate, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
                      date: str = "01/01/2026", time: str = "0700") -> str:
    """Synchro's UTDF volume file: ``Turning Movement Count``, one row per intersection, veh/h."""
    columns = _lane_columns(models, network)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([["Turning Movement Count"], ["60 Minute Counts"], ["DATE", "TIME", "INTID", *columns]])
    for tls_id in network.signals:
        values = {_column(network, models[tls_id], m): f"{v:.0f}" for m, v in demand.of(tls_id).items()}
        w.writerow([date, time, network.node_ids[tls_id], *(values.get(c, "") for c in columns)])
    return buf.getvalue()

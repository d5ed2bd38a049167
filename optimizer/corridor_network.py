"""Find the links between signalised intersections of a SUMO network, with travel times.

From every exit edge of a traffic light (an edge its signal links lead onto), a shortest-
path search (by free-flow travel time, ``length / speed``) follows the network through
unsignalised nodes until it reaches the approach edge of another traffic light, giving a
directed :class:`~optimizer.corridor.CorridorLink` ``upstream -> downstream``. Paths longer
than ``max_link_m`` are ignored: beyond that, platoons have dispersed and offsets matter
little. On the built-in corridor this yields ``J0 <-> J1 <-> ... <-> J{N-1}`` with travel
time ``spacing / speed``; on a real network any graph of neighbouring signals, which
:func:`~optimizer.corridor.optimize_corridor` handles too (treating each light on its own,
at the common cycle, when no links are found).
"""

from __future__ import annotations

import heapq
from pathlib import Path

import sumolib

from optimizer.corridor import CorridorLink
from optimizer.intersection import IntersectionModel
from phasewise_errors import ScenarioError


def find_links(net_file: str | Path, models: dict[str, IntersectionModel], max_link_m: float = 1000.0) -> tuple[CorridorLink, ...]:
    """Directed links between traffic lights, the shortest in time for each ordered pair."""
    try:
        net = sumolib.net.readNet(str(net_file))
    except Exception as exc:  # sumolib raises bare SAX errors
        raise ScenarioError(f"{net_file}: cannot read SUMO network ({exc})") from None
    approach_of = {a: tls_id for tls_id, m in models.items() for a in m.approaches}
    best: dict[tuple[str, str], CorridorLink] = {}
    for tls_id, model in models.items():
        exits = {edge for m in model.movements for edge in m.to_edges}
        for exit_edge in sorted(exits):
            if not net.hasEdge(exit_edge):
                continue
            for link in _search(net, tls_id, exit_edge, approach_of, max_link_m):
                key = (link.upstream, link.downstream)
                if key not in best or link.travel_time_s < best[key].travel_time_s:
                    best[key] = link
    return tuple(best[k] for k in sorted(best))


def _search(net: sumolib.net.Net, tls_id: str, exit_edge: str, approach_of: dict[str, str], max_link_m: float) -> list[CorridorLink]:
    start = net.getEdge(exit_edge)
    queue: list[tuple[float, float, str]] = [(_time(start), start.getLength(), exit_edge)]
    seen: set[str] = set()
    found: dict[str, CorridorLink] = {}
    while queue:
        time_s, length_m, edge_id = heapq.heappop(queue)
        if edge_id in seen or length_m > max_link_m:
            continue
        seen.add(edge_id)
        target = approach_of.get(edge_id)
        if target is not None:
            if target != tls_id and target not in found:
                found[target] = CorridorLink(tls_id, target, round(time_s, 2), round(length_m, 1), exit_edge, edge_id)
            continue  # a signal stops the search: beyond it, its own links take over
        edge = net.getEdge(edge_id)
        for nxt in edge.getOutgoing():
            if nxt.getID() not in seen and nxt.getFunction() != "internal":
                heapq.heappush(queue, (time_s + _time(nxt), length_m + nxt.getLength(), nxt.getID()))
    return list(found.values())


def _time(edge: sumolib.net.edge.Edge) -> float:
    return float(edge.getLength()) / max(float(edge.getSpeed()), 0.1)

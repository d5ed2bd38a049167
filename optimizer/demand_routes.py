"""Demand from a SUMO route file: count vehicles per movement over a period.

Each vehicle departing in ``[begin_s, end_s)`` is followed along its route; every pair of
consecutive edges ``(approach, next edge)`` that matches a movement (its approach and one of
its ``to_edges``) counts one vehicle for that movement. Counts become veh/h by dividing by
the period. Vehicles with embedded ``<route>``, ``route="id"`` references and ``<flow>``
elements with a fixed rate (``number``, ``vehsPerHour``, ``period``) are understood; trips
without a route are skipped (they have no path until SUMO routes them).

Example::

    demand = demand_from_routes(models, [Path("cologne3.rou.xml")], 25200, 28800)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError


def movement_index(models: dict[str, IntersectionModel]) -> dict[tuple[str, str], tuple[str, str]]:
    """``(approach edge, to edge) -> (tls id, movement id)`` over all intersections."""
    index = {}
    for tls_id, model in models.items():
        for movement in model.movements:
            for to_edge in movement.to_edges:
                index[(movement.approach, to_edge)] = (tls_id, movement.id)
    return index


def demand_from_routes(
    models: dict[str, IntersectionModel], route_files: Iterable[Path], begin_s: float, end_s: float
) -> DemandEstimate:
    """Per-movement flows (veh/h) of the vehicles departing in ``[begin_s, end_s)``."""
    if end_s <= begin_s:
        raise ConfigError(f"demand period: end {end_s:g} s must be after begin {begin_s:g} s")
    index = movement_index(models)
    counts: dict[str, dict[str, float]] = {tls_id: {} for tls_id in models}
    files = [Path(f) for f in route_files]
    for file in files:
        if not file.is_file():
            raise ConfigError(f"{file}: route file not found")
        for edges, vehicles in _routes_in_period(file, begin_s, end_s):
            for a, b in zip(edges, edges[1:]):
                hit = index.get((a, b))
                if hit is not None:
                    tls_id, movement_id = hit
                    counts[tls_id][movement_id] = counts[tls_id].get(movement_id, 0.0) + vehicles
    scale = 3600.0 / (end_s - begin_s)
    flows = {t: {m: c * scale for m, c in mv.items()} for t, mv in counts.items()}
    return DemandEstimate(flows, period_s=end_s - begin_s, source=",".join(str(f) for f in files))


def _routes_in_period(file: Path, begin_s: float, end_s: float) -> Iterable[tuple[list[str], float]]:
    """``(edges, number of vehicles)`` for every vehicle or flow departing in the period."""
    named: dict[str, list[str]] = {}
    try:
        for _, elem in ET.iterparse(file, events=("end",)):
            if elem.tag == "route" and elem.get("id"):
                named[elem.get("id", "")] = elem.get("edges", "").split()
            elif elem.tag == "vehicle":
                depart = _float(elem.get("depart"))
                if depart is not None and begin_s <= depart < end_s:
                    edges = _edges_of(elem, named)
                    if edges:
                        yield edges, 1.0
                elem.clear()
            elif elem.tag == "flow":
                edges = _edges_of(elem, named)
                vehicles = _flow_vehicles(elem, begin_s, end_s)
                if edges and vehicles > 0:
                    yield edges, vehicles
                elem.clear()
    except ET.ParseError as exc:
        raise ConfigError(f"{file}: not a valid SUMO route file ({exc})") from None


def _edges_of(elem: ET.Element, named: dict[str, list[str]]) -> list[str]:
    inner = elem.find("route")
    if inner is not None:
        return inner.get("edges", "").split()
    return named.get(elem.get("route", ""), [])


def _flow_vehicles(elem: ET.Element, begin_s: float, end_s: float) -> float:
    """Vehicles a fixed-rate flow inserts within the period (overlap of the two intervals)."""
    f_begin = _float(elem.get("begin")) or 0.0
    f_end = _float(elem.get("end"))
    f_end = end_s if f_end is None else f_end
    overlap = max(0.0, min(end_s, f_end) - max(begin_s, f_begin))
    if f_end <= f_begin or overlap <= 0:
        return 0.0
    if elem.get("number"):
        return float(elem.get("number", "0")) * overlap / (f_end - f_begin)
    if elem.get("vehsPerHour"):
        return float(elem.get("vehsPerHour", "0")) * overlap / 3600.0
    period = elem.get("period", "")
    if period and not period.startswith("exp"):
        return overlap / float(period)
    probability = _float(elem.get("probability"))
    return overlap * probability if probability is not None else 0.0


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None

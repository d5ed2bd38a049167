"""Demand from a SUMO route file: count vehicles per movement over a period.

Each vehicle departing in ``[begin_s, end_s)`` is followed along its route; every pair of
consecutive edges ``(approach, next edge)`` that matches a movement (its approach and one of
its ``to_edges``) counts one vehicle for that movement. Counts become veh/h by dividing by
the period. Vehicles with embedded ``<route>``, ``route="id"`` references (also to a
``<routeDistribution>``, shared by its probabilities) and ``<flow>`` elements with a fixed
rate (``number``, ``vehsPerHour``, ``period``) are understood.

Two situations would give a plan of minimum greens without saying so, and are refused with
a ``ConfigError`` naming the fix:

* trips (or flows) without a route depart in the period: they have no path until SUMO routes
  them; route them first with :func:`sumo_scenarios.routing.route_trips` (``phasewise
  optimize`` does) or SUMO's ``duarouter``;
* a traffic light no counted vehicle crosses (:func:`require_demand`), e.g. a period outside
  the file's departures.

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
    models: dict[str, IntersectionModel], route_files: Iterable[Path], begin_s: float, end_s: float,
    require: bool = True,
) -> DemandEstimate:
    """Per-movement flows (veh/h) of the vehicles departing in ``[begin_s, end_s)``.

    Raises ``ConfigError`` for unrouted trips and, unless ``require`` is false (counting
    for comparison, not planning), for traffic lights without demand (see the module docstring).
    """
    if end_s <= begin_s:
        raise ConfigError(f"demand period: end {end_s:g} s must be after begin {begin_s:g} s")
    index = movement_index(models)
    counts: dict[str, dict[str, float]] = {tls_id: {} for tls_id in models}
    files = [Path(f) for f in route_files]
    for file in files:
        if not file.is_file():
            raise ConfigError(f"{file}: route file not found")
        unrouted = 0.0
        for edges, vehicles in _routes_in_period(file, begin_s, end_s):
            if not edges:
                unrouted += vehicles
            for a, b in zip(edges, edges[1:]):
                hit = index.get((a, b))
                if hit is not None:
                    tls_id, movement_id = hit
                    counts[tls_id][movement_id] = counts[tls_id].get(movement_id, 0.0) + vehicles
        if unrouted > 0:
            raise ConfigError(
                f"{file}: {unrouted:g} vehicle(s) departing in [{begin_s:g}, {end_s:g}) s are trips without a "
                "route, so their movements are unknown; route them first (sumo_scenarios.routing.route_trips, "
                "or: duarouter -n NET.net.xml --route-files FILE -o ROUTED.rou.xml) or give --demand FLOWS.csv"
            )
    scale = 3600.0 / (end_s - begin_s)
    flows = {t: {m: c * scale for m, c in mv.items()} for t, mv in counts.items()}
    estimate = DemandEstimate(flows, period_s=end_s - begin_s, source=",".join(str(f) for f in files))
    if require:
        require_demand(models, estimate, f"[{begin_s:g}, {end_s:g}) s")
    return estimate


def require_demand(models: dict[str, IntersectionModel], estimate: DemandEstimate, period: str = "") -> None:
    """Raise ``ConfigError`` naming the traffic lights whose movements all have zero demand.

    An optimizer given no demand for a light can only give it minimum greens (on cologne1
    such a plan raised the delay from 43 to 550 s/veh); a single movement without demand,
    e.g. a U-turn nobody takes, is normal and allowed.
    """
    empty = [t for t, model in models.items() if not any(estimate.flow(t, m.id) > 0 for m in model.movements)]
    if not empty:
        return
    shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    what = "any traffic light" if len(empty) == len(models) else f"{len(empty)} of {len(models)} traffic lights ({shown})"
    movements = sorted(m.id for m in models[empty[0]].movements)[:6]
    raise ConfigError(
        f"{estimate.source or 'demand'}: no vehicle{' in ' + period if period else ''} crosses {what}"
        f" (movements of {empty[0]}: {', '.join(movements)}{', ...' if len(models[empty[0]].movements) > 6 else ''}),"
        " so a plan would be all minimum greens; check the period (--begin/--end) against the route file's"
        " departures, or give the demand with --demand FLOWS.csv"
    )


def _routes_in_period(file: Path, begin_s: float, end_s: float) -> Iterable[tuple[list[str], float]]:
    """``(edges, number of vehicles)`` for every vehicle or flow departing in the period;
    ``edges`` is empty for vehicles without a route we can read (trips)."""
    named: dict[str, list[tuple[list[str], float]]] = {}
    distribution: list[tuple[list[str], float]] | None = None
    try:
        for event, elem in ET.iterparse(file, events=("start", "end")):
            if event == "start":
                if elem.tag == "routeDistribution" and elem.get("id"):
                    distribution = []
                continue
            if elem.tag == "route" and elem.get("id"):
                edges = elem.get("edges", "").split()
                if distribution is not None:
                    distribution.append((edges, _float(elem.get("probability")) or 1.0))
                named[elem.get("id", "")] = [(edges, 1.0)]
            elif elem.tag == "routeDistribution" and distribution is not None:
                total = sum(p for _, p in distribution) or 1.0
                named[elem.get("id", "")] = [(edges, p / total) for edges, p in distribution]
                distribution = None
            elif elem.tag in ("vehicle", "trip"):
                depart = _float(elem.get("depart"))
                if depart is not None and begin_s <= depart < end_s:
                    yield from _weighted(_edges_of(elem, named), 1.0)
                elem.clear()
            elif elem.tag == "flow":
                vehicles = _flow_vehicles(elem, begin_s, end_s)
                if vehicles > 0:
                    yield from _weighted(_edges_of(elem, named), vehicles)
                elem.clear()
    except ET.ParseError as exc:
        raise ConfigError(f"{file}: not a valid SUMO route file ({exc})") from None


def _weighted(routes: list[tuple[list[str], float]], vehicles: float) -> Iterable[tuple[list[str], float]]:
    for edges, share in routes or [([], 1.0)]:
        yield edges, vehicles * share


def _edges_of(elem: ET.Element, named: dict[str, list[tuple[list[str], float]]]) -> list[tuple[list[str], float]]:
    inner = elem.find("route")
    if inner is not None:
        return [(inner.get("edges", "").split(), 1.0)]
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

"""A scenario's files checked before SUMO loads them, each problem naming its file and element.

SUMO reports a broken input as raw ``Error:`` lines on its console and a bare "Process
Error" for the caller, names no file for most of them and crashes on some (a negative phase
duration). :func:`check_scenario` runs the checks that matter first:

* the net is a ``<net>`` and every traffic-light program in it and in the additional files
  can run (:func:`sumo_scenarios.network.check_program`: durations, one signal per link);
* every edge a route file names (``<route edges>``, ``<trip>``/``<flow>`` ``from``, ``to``
  and ``via``, a person's ``<walk>``/``<ride>``) is an edge of the net.

    models = check_scenario(Scenario.from_sumocfg("NET.sumocfg"))   # ScenarioError naming the file
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from optimizer.intersection import IntersectionModel
from phasewise_errors import ScenarioError
from sumo_scenarios.network import load_intersections
from sumo_scenarios.scenario import Scenario

_EDGE_LISTS = ("edges",)  # attributes holding space-separated edge ids
_EDGE_ATTRIBUTES = ("from", "to")
_WITH_EDGES = frozenset({"route", "walk", "trip", "flow", "ride", "personTrip", "vehicle"})
_NAMED = frozenset({"vehicle", "trip", "flow", "person", "personFlow", "container", "route", "routeDistribution"})


def check_scenario(scenario: Scenario) -> dict[str, IntersectionModel]:
    """The traffic lights of ``scenario`` (as :func:`load_intersections`), after checking its
    files; ``ScenarioError`` naming the file and element otherwise."""
    models = load_intersections(scenario.net_file, program_files=scenario.additional_files)
    edges = net_edges(scenario.net_file)
    for route_file in scenario.route_files:
        check_route_edges(route_file, edges, scenario.net_file)
    return models


def net_edges(net_file: Path) -> frozenset[str]:
    """The ids of every edge of a ``.net.xml`` (internal ones included: routes never name them)."""
    try:
        return frozenset(elem.get("id", "") for _, elem in ET.iterparse(net_file) if elem.tag == "edge")
    except ET.ParseError as exc:
        raise ScenarioError(f"{net_file}: not valid XML ({exc})") from None


def check_route_edges(route_file: Path, edges: frozenset[str], net_file: Path) -> None:
    """``ScenarioError`` naming the element (and the vehicle it belongs to) whose edge is not in ``edges``."""
    owners: list[str] = []
    try:
        for event, elem in ET.iterparse(route_file, events=("start", "end")):
            if event == "start":
                owners.append(f"<{elem.tag}> '{elem.get('id')}'" if elem.tag in _NAMED and elem.get("id") else "")
                continue
            owners.pop()
            if elem.tag in _WITH_EDGES:
                named = [e for attribute in _EDGE_LISTS for e in (elem.get(attribute) or "").split()]
                named += [elem.get(a, "") for a in _EDGE_ATTRIBUTES if elem.get(a)]
                named += (elem.get("via") or "").split()
                unknown = [e for e in named if e not in edges]
                if unknown:
                    owner = next((o for o in reversed([*owners, f"<{elem.tag}> '{elem.get('id')}'"
                                                       if elem.get("id") else ""]) if o), f"a <{elem.tag}>")
                    raise ScenarioError(f"{route_file}: {owner} uses edge '{unknown[0]}', which the network "
                                        f"{net_file} does not have; fix the route or use the network it was made for")
            if elem.tag in _NAMED and len(owners) <= 1:
                elem.clear()  # keep memory flat on long route files
    except ET.ParseError as exc:
        raise ScenarioError(f"{route_file}: not valid XML ({exc})") from None

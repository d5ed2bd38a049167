"""Route trips: give every ``<trip>`` (and route-less ``<flow>``) of a route file its path.

Route files of real scenarios (the RESCO Cologne and Ingolstadt ones among them) often hold
trips: origin and destination edges, no route; SUMO routes them as it inserts the vehicles.
Anything that reads demand from the file itself (:mod:`optimizer.demand_routes`) needs the
paths, so :func:`route_trips` runs SUMO's ``duarouter`` over the file, as SUMO would route
them: shortest travel time in the empty network, unroutable trips dropped with a warning.

Routed files are cached by content (net file, route file, SUMO version), by default under
``$PHASEWISE_CACHE/routes`` (``$XDG_CACHE_HOME/phasewise`` or ``~/.cache/phasewise``);
pass ``cache_dir`` to put them elsewhere. Files without trips are returned unchanged.

Example::

    routed = route_trips(scenario.net_file, scenario.route_files)
    demand = demand_from_routes(models, routed, scenario.begin_s, scenario.end_s)
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from phasewise_errors import ScenarioError

log = logging.getLogger(__name__)

_ROUTED_BY_SUMO = frozenset({"trip", "flow"})  # without a route SUMO routes them itself


def default_cache_dir() -> Path:
    """``$PHASEWISE_CACHE`` or ``$XDG_CACHE_HOME/phasewise`` (``~/.cache/phasewise``), ``/routes``."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("PHASEWISE_CACHE", base / "phasewise")) / "routes"


def has_unrouted_trips(route_file: Path) -> bool:
    """Whether the file holds a trip or flow without a route (SUMO would route it)."""
    try:
        for _, elem in ET.iterparse(route_file, events=("end",)):
            if elem.tag in _ROUTED_BY_SUMO and _needs_route(elem):
                return True
            if elem.tag in ("vehicle", "trip", "flow"):
                elem.clear()
    except ET.ParseError as exc:
        raise ScenarioError(f"{route_file}: not a valid SUMO route file ({exc})") from None
    return False


def route_trips(net_file: Path, route_files: Iterable[Path], cache_dir: Path | None = None) -> tuple[Path, ...]:
    """The route files with every trip routed (see the module docstring); order kept."""
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    routed = []
    for route_file in (Path(f) for f in route_files):
        if not route_file.is_file():
            raise ScenarioError(f"{route_file}: route file not found")
        routed.append(_routed(Path(net_file), route_file, folder) if has_unrouted_trips(route_file) else route_file)
    return tuple(routed)


def _needs_route(elem: ET.Element) -> bool:
    return elem.get("route") is None and elem.find("route") is None and elem.find("routeDistribution") is None


def _routed(net_file: Path, route_file: Path, folder: Path) -> Path:
    from sumo_scenarios.runner import sumo_binary  # lazy: the runner imports the network model

    duarouter = sumo_binary("duarouter")
    key = _digest(net_file, route_file, duarouter)
    target = folder / f"{route_file.name.split('.')[0]}.{key}.rou.xml"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".routing-") as tmp:
        out = Path(tmp) / "routed.rou.xml"
        done = subprocess.run(
            [duarouter, "-n", str(net_file), "--route-files", str(route_file), "-o", str(out),
             "--ignore-errors", "--no-step-log", "--alternatives-output", str(Path(tmp) / "alt.xml")],
            capture_output=True, text=True,
        )
        if done.returncode != 0 or not out.is_file():
            errors = [line for line in done.stderr.splitlines() if line.startswith("Error")][-2:]
            raise ScenarioError(f"{route_file}: duarouter could not route the trips: {' / '.join(errors) or done.stderr[-300:]}")
        dropped = sum("has no valid route" in line or "No connection between" in line for line in done.stderr.splitlines())
        if dropped:
            log.warning("%s: %d trip(s) have no path in %s and were dropped", route_file, dropped, net_file)
        os.replace(out, target)  # atomic: a concurrent reader never sees half a file
    return target


def _digest(net_file: Path, route_file: Path, duarouter: str) -> str:
    digest = hashlib.sha256()
    for file in (net_file, route_file):
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    version = subprocess.run([duarouter, "--version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    digest.update(version.encode())
    return digest.hexdigest()[:16]

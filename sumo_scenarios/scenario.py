"""A SUMO scenario: the files SUMO needs and the simulated period.

A ``Scenario`` comes either from a ``.sumocfg`` (real-world networks such as the RESCO
Cologne/Ingolstadt scenarios) or from the built-in corridor generator
(:mod:`sumo_scenarios.corridor`). The runner only ever sees this value.

The period is the sumocfg's ``<time>`` ``begin``/``end``. Where the sumocfg leaves one out,
it is taken from the departures in the route (and additional) files: ``begin`` the first,
``end`` one second after the last, so that the simulation covers its vehicles; SUMO's own
defaults (0 and "until the network is empty") do not give a fixed period to measure over.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

from phasewise_errors import ScenarioError


@dataclass(frozen=True)
class Scenario:
    """Files and period of one simulation; ``begin_s``/``end_s`` in simulation seconds.

    ``sumo_options`` are command-line options the scenario itself needs (e.g. the built-in
    corridor's junction-blocker setting); every run of the scenario passes them to SUMO.
    """

    name: str
    net_file: Path
    route_files: tuple[Path, ...]
    begin_s: float
    end_s: float
    additional_files: tuple[Path, ...] = ()
    sumo_options: tuple[str, ...] = ()

    def with_period(self, begin_s: float | None = None, end_s: float | None = None) -> Scenario:
        """The same scenario over another period (``None`` keeps the current bound)."""
        begin = self.begin_s if begin_s is None else begin_s
        end = self.end_s if end_s is None else end_s
        if end <= begin:
            raise ScenarioError(f"{self.name}: end {end:g} s must be after begin {begin:g} s")
        if not math.isfinite(end) or end > LATEST_TIME_S:
            raise ScenarioError(f"{self.name}: end {end:g} s is past the latest simulation time {LATEST_TIME_S:g} s")
        return replace(self, begin_s=begin, end_s=end)

    @classmethod
    def from_sumocfg(cls, path: str | Path) -> Scenario:
        """Read net, route and additional files and the period from a ``.sumocfg``."""
        cfg = Path(path)
        if cfg.is_dir():
            found = sorted(p.name for p in cfg.glob("*.sumocfg"))
            raise ScenarioError(f"{cfg}: is a folder; give the .sumocfg file in it"
                                + (f" ({', '.join(found[:3])})" if found else ""))
        if not cfg.is_file():
            raise ScenarioError(f"{cfg}: sumocfg file not found")
        try:
            root = ET.parse(cfg).getroot()
        except ET.ParseError as exc:
            raise ScenarioError(f"{cfg}: not valid XML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{cfg}: cannot read the sumocfg ({exc})") from None
        if root.tag not in ("configuration", "sumoConfiguration"):
            raise ScenarioError(f"{cfg}: not a SUMO configuration (root element <{root.tag}>, expected <configuration>)")

        def value(tag: str) -> str | None:
            node = root.find(f".//{tag}")
            return None if node is None else node.get("value")

        def files(tag: str) -> tuple[Path, ...]:
            raw = value(tag) or ""
            return tuple(cfg.parent / p.strip() for p in raw.replace(" ", ",").split(",") if p.strip())

        nets = files("net-file")
        if not nets:
            raise ScenarioError(f"{cfg}: no <net-file> in the configuration")
        route_files = files("route-files")
        additional_files = files("additional-files")
        for f in (nets[0], *route_files, *additional_files):
            if f.is_dir():
                raise ScenarioError(f"{cfg}: referenced file {f} is a folder; name the file in it")
            if not f.is_file():
                raise ScenarioError(f"{cfg}: referenced file {f} not found")
        departures = _departure_range(route_files, additional_files)
        begin_raw, end_raw = value("begin"), value("end")
        # with no route files at all there is nothing to take a period from: SUMO's begin 0
        # and our one hour (the network checks that follow report what else is missing)
        if (begin_raw is None or end_raw is None) and departures is None and route_files:
            raise ScenarioError(
                f"{cfg}: no <time> begin/end and no vehicle departures in the route files "
                f"({', '.join(str(f) for f in route_files) or 'none given'}); "
                'add <time><begin value="0"/><end value="3600"/></time>'
            )
        begin_default, end_default = (
            (float(math.floor(departures[0])), float(math.ceil(departures[1])) + 1.0) if departures else (0.0, 3600.0)
        )
        begin = _seconds(cfg, "begin", begin_raw, begin_default)
        end = _seconds(cfg, "end", end_raw, end_default)
        if end < 0 and departures:  # SUMO's "end -1": until the network is empty; we need a fixed period
            end = end_default
        if end <= begin:
            raise ScenarioError(f"{cfg}: end {end:g} s must be after begin {begin:g} s")
        return cls(
            name=cfg.stem,
            net_file=nets[0],
            route_files=route_files,
            additional_files=additional_files,
            begin_s=begin,
            end_s=end,
        )


_VEHICLE_TAGS = frozenset({"vehicle", "trip", "person", "container"})
_FLOW_TAGS = frozenset({"flow", "personFlow", "containerFlow"})


def _departure_range(route_files: tuple[Path, ...], additional_files: tuple[Path, ...] = ()) -> tuple[float, float] | None:
    """Earliest and latest departure (s) over the route and additional files (SUMO takes
    vehicles from both), ``None`` when they have none.

    Also checks that each route file is well-formed XML with a ``<routes>`` root, so that a
    broken route file is reported here, naming it, rather than by SUMO at start.
    Departures given as words (``triggered``, ``now``) are ignored.
    """
    first, last = math.inf, -math.inf
    for file in (*route_files, *additional_files):
        try:
            events = ET.iterparse(file, events=("start", "end"))
            _, root = next(events)
            if root.tag != "routes" and file in route_files:
                raise ScenarioError(f"{file}: not a SUMO route file (root element <{root.tag}>, expected <routes>)")
            for event, elem in events:
                if event != "end":
                    continue
                if elem.tag in _VEHICLE_TAGS:
                    times = [_number(elem.get("depart"))]
                elif elem.tag in _FLOW_TAGS:
                    times = [_number(elem.get("begin")), _number(elem.get("end"))]
                else:
                    continue
                for t in times:
                    if t is not None:
                        first, last = min(first, t), max(last, t)
                if elem.tag in _VEHICLE_TAGS or elem.tag in _FLOW_TAGS:
                    root.clear()  # keep memory flat on long route files
        except ET.ParseError as exc:
            raise ScenarioError(f"{file}: not valid XML ({exc})") from None
        except StopIteration:
            raise ScenarioError(f"{file}: empty file") from None
    return (first, last) if first <= last else None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


LATEST_TIME_S = 10 * 86400.0  # ten days: SUMO's clock goes further, a scenario does not


def _seconds(cfg: Path, field: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ScenarioError(f"{cfg}: <{field}> value {raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value > LATEST_TIME_S or (value < 0 and field == "begin"):
        raise ScenarioError(f"{cfg}: <{field}> value {raw!r} must be seconds from 0 to {LATEST_TIME_S:g}")
    return value

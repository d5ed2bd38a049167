"""A SUMO scenario: the files SUMO needs and the simulated period.

A ``Scenario`` comes either from a ``.sumocfg`` (real-world networks such as the RESCO
Cologne/Ingolstadt scenarios) or from the built-in corridor generator
(:mod:`sumo_scenarios.corridor`). The runner only ever sees this value.
"""

from __future__ import annotations

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
        return replace(self, begin_s=begin, end_s=end)

    @classmethod
    def from_sumocfg(cls, path: str | Path) -> Scenario:
        """Read net, route and additional files and the period from a ``.sumocfg``."""
        cfg = Path(path)
        if not cfg.is_file():
            raise ScenarioError(f"{cfg}: sumocfg file not found")
        try:
            root = ET.parse(cfg).getroot()
        except ET.ParseError as exc:
            raise ScenarioError(f"{cfg}: not valid XML ({exc})") from None

        def value(tag: str) -> str | None:
            node = root.find(f".//{tag}")
            return None if node is None else node.get("value")

        def files(tag: str) -> tuple[Path, ...]:
            raw = value(tag) or ""
            return tuple(cfg.parent / p.strip() for p in raw.replace(" ", ",").split(",") if p.strip())

        nets = files("net-file")
        if not nets:
            raise ScenarioError(f"{cfg}: no <net-file> in the configuration")
        scenario = cls(
            name=cfg.stem,
            net_file=nets[0],
            route_files=files("route-files"),
            additional_files=files("additional-files"),
            begin_s=_seconds(cfg, "begin", value("begin"), 0.0),
            end_s=_seconds(cfg, "end", value("end"), 3600.0),
        )
        for f in (scenario.net_file, *scenario.route_files, *scenario.additional_files):
            if not f.is_file():
                raise ScenarioError(f"{cfg}: referenced file {f} not found")
        if scenario.end_s <= scenario.begin_s:
            raise ScenarioError(f"{cfg}: end must be after begin")
        return scenario


def _seconds(cfg: Path, field: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ScenarioError(f"{cfg}: <{field}> value {raw!r} is not a number of seconds") from None

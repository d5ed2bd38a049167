"""Routes fitted to turning-movement counts with SUMO's ``routeSampler.py``, judged by GEH.

A network's route file rarely reproduces the counts an engineer has. :func:`fit_routes`
turns the counts (:class:`optimizer.demand_tmc.TurningCounts`, 15-min bins) into SUMO
``edgeRelation`` counts (approach edge → exit edge of each movement, one interval per bin)
and lets ``routeSampler.py`` (eclipse-sumo's ``tools/``) choose, from candidate routes (the
scenario's own, routed), a set of vehicles whose turns match them (``--optimize full``:
integer linear programming on top of the sampling).

:func:`geh_per_count` compares each count with what the fitted routes give over the same bin,
both as hourly flows, by the GEH statistic used in traffic-model calibration (UK DMRB,
TAG unit M3.1)::

    GEH = sqrt(2 (M - C)^2 / (M + C))      M model, C count, veh/h

The usual acceptance, used here: GEH < 5 for at least 85 % of the counts. Counting the fitted
routes uses the one counting function of the optimizer
(:func:`optimizer.demand_routes.demand_from_routes`), by departure time in the bin.

Example::

    counts = read_tmc_csv("tmc.csv")
    routes = fit_routes(net_file, candidate_routes, counts, models, workdir)
    fits = geh_per_count(routes, counts, models)
"""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.demand_routes import demand_from_routes
from optimizer.demand_tmc import TurningCounts
from optimizer.intersection import IntersectionModel, Movement
from phasewise_errors import ConfigError, SimulationError

GEH_LIMIT = 5.0
ACCEPTED_SHARE = 0.85


@dataclass(frozen=True)
class CountFit:
    """One count against the fitted routes (hourly flows, veh/h) and its GEH."""

    tls: str
    movement: str
    bin_start_s: float
    counted_veh_h: float
    fitted_veh_h: float

    @property
    def geh(self) -> float:
        total = self.counted_veh_h + self.fitted_veh_h
        return 0.0 if total <= 0 else math.sqrt(2.0 * (self.fitted_veh_h - self.counted_veh_h) ** 2 / total)


def share_accepted(fits: Sequence[CountFit], limit: float = GEH_LIMIT) -> float:
    """Fraction of counts with GEH below ``limit``."""
    return sum(f.geh < limit for f in fits) / len(fits) if fits else 0.0


def edge_relations_xml(counts: TurningCounts, models: dict[str, IntersectionModel]) -> str:
    """routeSampler's turn-count input: one ``<interval>`` per bin, one ``edgeRelation`` per movement."""
    root = ET.Element("data")
    for start in counts.bin_starts_s:
        interval = ET.SubElement(root, "interval", id=f"bin{start:g}", begin=f"{start:g}", end=f"{start + counts.bin_s:g}")
        for (tls, movement_id), bins in sorted(counts.counts.items()):
            movement = _movement(models, tls, movement_id, counts.source)
            ET.SubElement(interval, "edgeRelation", attrib={
                "from": movement.approach, "to": movement.to_edges[0], "count": f"{bins.get(start, 0.0):g}"})
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode") + "\n"


def fit_routes(net_file: Path, candidate_routes: Sequence[Path], counts: TurningCounts,
               models: dict[str, IntersectionModel], workdir: Path, seed: int = 42) -> Path:
    """Run ``routeSampler.py``; the fitted route file (``workdir/routes.rou.xml``)."""
    from sumo import SUMO_HOME

    workdir.mkdir(parents=True, exist_ok=True)
    turns = workdir / "turn_counts.xml"
    turns.write_text(edge_relations_xml(counts, models), encoding="utf-8")
    out = workdir / "routes.rou.xml"
    command = [sys.executable, str(Path(SUMO_HOME) / "tools" / "routeSampler.py"),
               "-r", ",".join(str(Path(r).resolve()) for r in candidate_routes), "-t", str(turns.resolve()),
               "-o", str(out.resolve()),
               "--optimize", "full", "--seed", str(seed), "--attributes", 'departLane="best" departSpeed="max"']
    done = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if done.returncode != 0 or not out.is_file():
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise SimulationError(f"routeSampler.py failed: {tail}")
    return out


def geh_per_count(routes: Path, counts: TurningCounts, models: dict[str, IntersectionModel]) -> list[CountFit]:
    """Every count of every bin against the fitted routes' flow in that bin."""
    fits = []
    scale = 3600.0 / counts.bin_s
    for start in counts.bin_starts_s:
        fitted = demand_from_routes(models, [routes], start, start + counts.bin_s, require=False)
        for (tls, movement), bins in sorted(counts.counts.items()):
            fits.append(CountFit(tls, movement, start, bins.get(start, 0.0) * scale, fitted.flow(tls, movement)))
    return fits


def _movement(models: dict[str, IntersectionModel], tls: str, movement_id: str, source: str) -> Movement:
    if tls not in models:
        raise ConfigError(f"{source}: counts for traffic light '{tls}', which the network does not have")
    try:
        return models[tls].movement(movement_id)
    except KeyError:
        known = ", ".join(sorted(m.id for m in models[tls].movements))
        raise ConfigError(f"{source}: {tls}: counts for movement '{movement_id}', which does not exist; movements are {known}") from None

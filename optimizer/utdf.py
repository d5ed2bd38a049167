"""Synchro exchange: plans and volumes as UTDF (Universal Traffic Data Format) CSV files.

Traffic engineers keep their timing in Synchro; UTDF is the CSV it reads and writes.
:func:`write_utdf` writes one combined file with the sections ``[Network]``, ``[Nodes]``,
``[Links]``, ``[Lanes]``, ``[Timeplans]`` and ``[Phases]``, and :func:`write_tmc_volumes`
the UTDF turning-movement volume file (``INTID,NBL,NBT,...`` per time). :func:`read_utdf`
and :func:`read_tmc_volumes` read them back as a :class:`TimingPlan` (the existing plan) and a
:class:`DemandEstimate`.

Mapping, which the files carry so that the round trip is exact:

* intersections: ``INTID`` 1..n in plan order, the SUMO tls id as the node ``DESCRIPTION``;
* approaches: Synchro's ``NB/SB/EB/WB`` (``NE/NW/SE/SW`` for diagonal legs) from the
  direction of travel on the approach edge's last segment (:func:`approach_directions`,
  from the SUMO net's geometry); movements ``L/T/R/U`` from the model's turns, so ``EBT`` is
  the through movement of the approach travelling east;
* phases: the plan's phase ``k`` is Synchro phase ``D{k+1}`` (sequential numbering, not
  NEMA ring positions); green = ``MaxGreen`` (a pretimed split), ``Yellow``, ``AllRed``,
  ``Start`` the green start within the cycle; ``Reference Phase`` the coordinated phase.
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
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise_errors import ConfigError

DIRECTIONS = ("NB", "SB", "EB", "WB", "NE", "NW", "SE", "SW")
TURN_CODES = {"left": "L", "through": "T", "right": "R", "uturn": "U"}
MOVEMENT_COLUMNS = tuple(d + t for d in DIRECTIONS for t in ("U", "L", "T", "R"))
PHASE_ROWS = ("BRP", "MinGreen", "MaxGreen", "VehExt", "Yellow", "AllRed", "Recall", "Start", "End", "ActGreen")


@dataclass(frozen=True)
class UtdfNetwork:
    """What ties UTDF's integer node ids and compass movements to SUMO ids."""

    node_ids: dict[str, int]  # tls id -> INTID
    directions: dict[str, dict[str, str]]  # tls id -> approach edge -> "EB"...

    def column(self, model: IntersectionModel, movement_id: str) -> str:
        m = model.movement(movement_id)
        return self.directions[model.tls_id][m.approach] + TURN_CODES[m.turn]

    def movement_of(self, model: IntersectionModel, column: str) -> str | None:
        for m in model.movements:
            if self.directions[model.tls_id].get(m.approach, "") + TURN_CODES[m.turn] == column:
                return m.id
        return None


def approach_directions(net_file: Path, models: Mapping[str, IntersectionModel]) -> dict[str, dict[str, str]]:
    """Compass direction of travel of every approach edge, from the net's geometry (sumolib)."""
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    out: dict[str, dict[str, str]] = {}
    for tls_id, model in models.items():
        taken: dict[str, str] = {}
        for approach in model.approaches:
            (x0, y0), (x1, y1) = net.getEdge(approach).getShape()[-2:]
            bearing = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360  # 0 = north, clockwise
            order = sorted(range(8), key=lambda k: min(abs(bearing - 45 * k), 360 - abs(bearing - 45 * k)))
            names = ["NB", "NE", "EB", "SE", "SB", "SW", "WB", "NW"]
            # two legs travelling the same way (a split approach) take the next nearest name
            name = next(names[k] for k in order if names[k] not in taken.values())
            taken[approach] = name
        out[tls_id] = taken
    return out


def utdf_network(net_file: Path, models: Mapping[str, IntersectionModel], tls_ids: list[str]) -> UtdfNetwork:
    return UtdfNetwork({t: k + 1 for k, t in enumerate(tls_ids)}, approach_directions(net_file, models))


def write_utdf(plan: TimingPlan, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
               demand: DemandEstimate | None = None) -> str:
    """The combined UTDF text of ``plan`` (and the volumes of ``demand`` in ``[Lanes]``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows([["[Network]"], ["Network Settings"], ["RECORDNAME", "DATA"], ["UTDFVERSION", "8"],
                 ["Metric", "1"], ["Created by", plan.created_by], [], ["[Nodes]"], ["Node Data"],
                 ["INTID", "TYPE", "X", "Y", "Z", "DESCRIPTION"]])
    for tls_id, node in network.node_ids.items():
        w.writerow([node, 0, 0, 0, 0, tls_id])
    w.writerows([[], ["[Links]"], ["Link Data"], ["RECORDNAME", "INTID", *DIRECTIONS]])
    for tls_id, node in network.node_ids.items():
        by_dir = {d: a for a, d in network.directions[tls_id].items()}
        w.writerow(["Name", node, *(by_dir.get(d, "") for d in DIRECTIONS)])
    w.writerows([[], ["[Lanes]"], ["Lane Group Data"], ["RECORDNAME", "INTID", *MOVEMENT_COLUMNS]])
    for tls_id, node in network.node_ids.items():
        model = models[tls_id]
        lanes = {network.column(model, m.id): len(m.from_lanes) for m in model.movements}
        w.writerow(["Lanes", node, *(lanes.get(c, "") for c in MOVEMENT_COLUMNS)])
        if demand is not None:
            volume = {network.column(model, m): f"{v:.0f}" for m, v in demand.of(tls_id).items()}
            w.writerow(["Volume", node, *(volume.get(c, "") for c in MOVEMENT_COLUMNS)])
    w.writerows([[], ["[Timeplans]"], ["Timing Plan Settings"], ["RECORDNAME", "INTID", "DATA"]])
    for tls_id, node in network.node_ids.items():
        ip = plan.intersections[tls_id]
        w.writerows([["Control Type", node, 0], ["Cycle Length", node, f"{ip.cycle_s:g}"],
                     ["Offset", node, f"{ip.offset_s:g}"], ["Referenced To", node, 0],
                     ["Reference Phase", node, ip.coordinated_phase + 1]])
    n_phases = max(len(ip.phases) for ip in plan.intersections.values())
    w.writerows([[], ["[Phases]"], ["Phase Data"], ["RECORDNAME", "INTID", *(f"D{k + 1}" for k in range(n_phases))]])
    for tls_id, node in network.node_ids.items():
        ip = plan.intersections[tls_id]
        starts = {p.phase: ip.green_start_s(p.phase) for p in ip.phases}
        rows = {
            "BRP": [p.phase + 1 for p in ip.phases], "MinGreen": [f"{p.min_green_s:g}" for p in ip.phases],
            "MaxGreen": [f"{p.green_s:g}" for p in ip.phases], "VehExt": [0 for _ in ip.phases],
            "Yellow": [f"{p.yellow_s:g}" for p in ip.phases], "AllRed": [f"{p.all_red_s:g}" for p in ip.phases],
            "Recall": [3 for _ in ip.phases], "Start": [f"{starts[p.phase]:g}" for p in ip.phases],
            "End": [f"{(starts[p.phase] + p.green_s) % ip.cycle_s:g}" for p in ip.phases],
            "ActGreen": [f"{p.green_s:g}" for p in ip.phases],
        }
        by_phase = {p.phase: k for k, p in enumerate(ip.phases)}
        for name in PHASE_ROWS:
            w.writerow([name, node, *(rows[name][by_phase[k]] if k in by_phase else "" for k in range(n_phases))])
    return buf.getvalue()


def _sections(text: str, source: str) -> dict[str, list[list[str]]]:
    """``{section: rows after its title and header}``; the header row is the first row kept."""
    out: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    skip = 0
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(c.strip() for c in row):
            continue
        if row[0].startswith("[") and row[0].endswith("]"):
            current, skip = out.setdefault(row[0][1:-1], []), 1  # the next row is the section title
            continue
        if current is None:
            raise ConfigError(f"{source}: data before the first [section]; not a UTDF file")
        if skip:
            skip -= 1
            continue
        current.append([c.strip() for c in row])
    return out


def read_utdf(text: str, models: Mapping[str, IntersectionModel], source: str = "UTDF") -> tuple[TimingPlan, DemandEstimate | None]:
    """The plan (``[Timeplans]``, ``[Phases]``) and, if ``[Lanes]`` has ``Volume`` rows, the demand."""
    sections = _sections(text, source)
    for needed in ("Nodes", "Links", "Timeplans", "Phases"):
        if needed not in sections:
            raise ConfigError(f"{source}: no [{needed}] section")
    nodes = {int(r[0]): r[5] for r in sections["Nodes"][1:]}
    for tls_id in nodes.values():
        if tls_id not in models:
            raise ConfigError(f"{source}: node {tls_id!r} is not a traffic light of the network")
    header = sections["Links"][0]
    directions = {nodes[int(r[1])]: {a: d for d, a in zip(header[2:], r[2:]) if a} for r in sections["Links"][1:] if r[0] == "Name"}
    network = UtdfNetwork({t: n for n, t in nodes.items()}, directions)
    settings = {(r[0], int(r[1])): r[2] for r in sections["Timeplans"][1:]}
    phase_rows = {(r[0], int(r[1])): r[2:] for r in sections["Phases"][1:]}
    plans = {}
    for node, tls_id in nodes.items():
        try:
            greens = phase_rows[("MaxGreen", node)]
            order = [int(b) - 1 for b in phase_rows[("BRP", node)] if b]
            phases = []
            for k in order:
                model_phase = models[tls_id].phases[k]
                phases.append(PhaseTiming(k, float(greens[k]), float(phase_rows[("Yellow", node)][k]),
                                          float(phase_rows[("AllRed", node)][k]), float(phase_rows[("MinGreen", node)][k]),
                                          model_phase.max_green_s))
            plans[tls_id] = IntersectionPlan(tls_id, float(settings[("Cycle Length", node)]), float(settings[("Offset", node)]),
                                             tuple(phases), int(settings[("Reference Phase", node)]) - 1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{source}: node {node} ({tls_id}): incomplete timing ({type(exc).__name__}: {exc})") from None
    plan = TimingPlan(plans, "utdf", f"imported from {source}")
    volumes = [r for r in sections.get("Lanes", [])[1:] if r[0] == "Volume"]
    if not volumes:
        return plan, None
    lane_header = sections["Lanes"][0]
    flows: dict[str, dict[str, float]] = {}
    for r in volumes:
        tls_id = nodes[int(r[1])]
        for column, value in zip(lane_header[2:], r[2:]):
            movement = network.movement_of(models[tls_id], column) if value else None
            if movement is not None:
                flows.setdefault(tls_id, {})[movement] = float(value)
    return plan, DemandEstimate(flows, source=source)


def write_tmc_volumes(demand: DemandEstimate, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
                      date: str = "01/01/2026", time: str = "0700") -> str:
    """UTDF volume file: ``Turning Movement Count``, one row per intersection, hourly volumes."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows([["Turning Movement Count"], ["60 Minute Counts"], ["DATE", "TIME", "INTID", *MOVEMENT_COLUMNS]])
    for tls_id, node in network.node_ids.items():
        values = {network.column(models[tls_id], m): f"{v:.0f}" for m, v in demand.of(tls_id).items()}
        w.writerow([date, time, node, *(values.get(c, "") for c in MOVEMENT_COLUMNS)])
    return buf.getvalue()


def read_tmc_volumes(text: str, models: Mapping[str, IntersectionModel], network: UtdfNetwork,
                     source: str = "UTDF volumes") -> DemandEstimate:
    """Hourly volumes of a UTDF volume file as demand (the busiest time's row per intersection)."""
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next((k for k, r in enumerate(rows) if r[:3] == ["DATE", "TIME", "INTID"]), None)
    if header_at is None:
        raise ConfigError(f"{source}: no DATE,TIME,INTID header; not a UTDF volume file")
    header = rows[header_at]
    by_node = {n: t for t, n in network.node_ids.items()}
    best: dict[str, dict[str, float]] = {}
    for r in rows[header_at + 1:]:
        if len(r) < 3 or not r[2].strip():
            continue
        tls_id = by_node.get(int(r[2]))
        if tls_id is None:
            raise ConfigError(f"{source}: INTID {r[2]} is not a node of the network")
        flows = {}
        for column, value in zip(header[3:], r[3:]):
            movement = network.movement_of(models[tls_id], column) if value.strip() else None
            if movement is not None:
                flows[movement] = float(value)
        if sum(flows.values()) > sum(best.get(tls_id, {}).values()):
            best[tls_id] = flows
    return DemandEstimate(best, source=source)

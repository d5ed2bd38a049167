"""Synchro's UTDF (Universal Traffic Data Format): read a combined UTDF file into plain values,
and turn it into our plan and demand.

Synchro writes one CSV file with the sections ``[Network]``, ``[Nodes]``, ``[Links]``,
``[Lanes]``, ``[Timeplans]`` and ``[Phases]``; each section is a title line (``Network
Settings``, ``Node Data``, ``Link Data``, ``Lane Group Data``, ``Timing Plan Settings``,
``Phasing Data``), a header and records keyed by ``RECORDNAME`` and ``INTID`` (the node
number). :func:`parse_utdf` keeps every record (:class:`UtdfFile`), and gives each signalised
node (one with timing) as a :class:`UtdfIntersection`: cycle, offset, reference phase, and per
NEMA phase (columns ``D1``...) a :class:`UtdfPhase` with its barrier-ring-position code,
min/max green, yellow, all-red, min split, walk/don't walk and start in the cycle; and per
movement column (``NBL``, ``EBT``...) its lane records with ``Volume``.

Units: Synchro writes seconds for all timing; volumes are vehicles per hour; distances and
speeds follow ``[Network] Metric`` (0: feet, mph; 1: metres, km/h).

Into our model (:func:`plan_from_utdf`, :func:`demand_from_utdf`):

* a node is the traffic light whose id is its ``DESCRIPTION`` (what :mod:`optimizer.utdf_export`
  writes) or, failing that, its ``INTID`` (as ``utdf2gmns`` names SUMO lights); signalised
  nodes that are no light of the network are skipped and noted;
* a movement column is the approach travelling that way (``EB``: the approach edge whose last
  segment points east, :func:`optimizer.utdf_export.approach_directions`) and the turn
  (``L``/``L2`` left, ``T`` through, ``R``/``R2`` right, ``U`` U-turn);
* timing: each NEMA phase runs from its ``Start`` (seconds in the cycle, system clock, as
  Synchro writes it: the offset is included) for its split = ``MaxGreen + Yellow + AllRed``;
  the cycle falls into intervals in which the same NEMA phases are green, and each interval
  is the model phase with those NEMA phases (:class:`~optimizer.nema_numbering.RingStructure`),
  green for the interval less the clearance of the phases that end with it. An interval whose
  NEMA phases no model phase shows (e.g. a lead-lag overlap the network's program lacks) adds
  its time to the model phase before it; each such merge is reported.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.nema_numbering import STANDARD_BARRIERS, RingStructure
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise_errors import ConfigError

SECTION_TITLES = {
    "Network": "Network Settings", "Nodes": "Node Data", "Links": "Link Data", "Lanes": "Lane Group Data",
    "Timeplans": "Timing Plan Settings", "Phases": "Phasing Data",
}
DIRECTIONS = ("NB", "SB", "EB", "WB", "NE", "NW", "SE", "SW")
TURN_CODES = {"uturn": "U", "left": "L", "through": "T", "right": "R"}
_TURN_OF_CODE = {"U": "uturn", "L": "left", "L2": "left", "T": "through", "R": "right", "R2": "right"}
EPS_S = 0.01


@dataclass(frozen=True)
class UtdfPhase:
    """One NEMA phase of a signalised node (a ``D<n>`` column of ``[Phases]``), seconds."""

    number: int
    brp: int | None
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    start_s: float | None
    min_split_s: float | None = None
    walk_s: float | None = None
    dont_walk_s: float | None = None
    records: dict[str, str] = field(default_factory=dict)  # every record of the column, as written

    @property
    def split_s(self) -> float:
        return self.max_green_s + self.yellow_s + self.all_red_s


@dataclass(frozen=True)
class Interval:
    """Part of the cycle in which the same NEMA phases are green (seconds, system clock)."""

    phases: frozenset[int]
    start_s: float
    length_s: float
    ending: tuple[int, ...]  # NEMA phases whose split ends with this interval


@dataclass(frozen=True)
class UtdfIntersection:
    """A signalised node: its ``[Timeplans]``, ``[Phases]`` and ``[Lanes]`` records."""

    intid: int
    description: str
    cycle_s: float
    offset_s: float
    reference_phases: tuple[int, ...]
    referenced_to: int
    control_type: int
    phases: dict[int, UtdfPhase]
    lanes: dict[str, dict[str, str]]  # movement column -> record name -> value

    def volumes_veh_h(self) -> dict[str, float]:
        """Movement column -> ``Volume`` (veh/h) where one is written."""
        out = {}
        for column, records in self.lanes.items():
            value = records.get("Volume", "")
            if value:
                out[column] = _float(value, f"node {self.intid} {column} Volume")
        return out

    def intervals(self) -> list[Interval]:
        """The cycle cut where any NEMA phase starts or ends, from the earliest start on."""
        timed = {n: p for n, p in self.phases.items() if p.start_s is not None}
        if not timed:
            raise ConfigError(f"node {self.intid}: no phase has a Start; cannot tell the order of phases")
        cycle = self.cycle_s
        span = {n: ((p.start_s or 0.0) % cycle, p.split_s) for n, p in timed.items()}
        cuts = sorted({round(s, 2) for s, _ in span.values()} | {round((s + d) % cycle, 2) for s, d in span.values()})
        cuts = [c for k, c in enumerate(cuts) if k == 0 or c - cuts[k - 1] > EPS_S]
        out = []
        for k, a in enumerate(cuts):
            b = cuts[(k + 1) % len(cuts)] + (cycle if k + 1 == len(cuts) else 0.0)
            mid = (a + (b - a) / 2) % cycle
            active = frozenset(n for n, (s, d) in span.items() if (mid - s) % cycle < d)
            ending = tuple(n for n, (s, d) in span.items() if abs((s + d - b) % cycle) < EPS_S or
                           abs((s + d - b) % cycle - cycle) < EPS_S)
            out.append(Interval(active, a, b - a, ending))
        return out


@dataclass(frozen=True)
class UtdfFile:
    """Every section of a UTDF file: ``records[section]`` = rows of ``{column: value}`` (the
    header's names; ``RECORDNAME``/``INTID`` included); ``network`` the settings."""

    network: dict[str, str]
    records: dict[str, list[dict[str, str]]]
    intersections: dict[int, UtdfIntersection]
    nodes: dict[int, dict[str, str]]
    source: str = "UTDF"


def read_utdf_file(path: Path, option: str) -> UtdfFile:
    """Read and parse a UTDF file; ``ConfigError`` naming ``option`` and the file when it is
    missing, binary, not text in UTF-8 or Windows-1252 (Synchro's own encoding), or not UTDF."""
    where = f"{option} {path}"
    if not path.is_file():
        raise ConfigError(f"{where}: file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from None
    if b"\x00" in data[:65536]:
        raise ConfigError(f"{where}: a binary file, not a UTDF CSV text file (export one from Synchro: File > Save As UTDF)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: not a text file in UTF-8 or Windows-1252 (byte {exc.start}); "
                              "give a UTDF CSV exported from Synchro") from None
    return parse_utdf(text, where)


def parse_utdf(text: str, source: str = "UTDF") -> UtdfFile:
    """Every record of a combined UTDF file; ``ConfigError`` naming ``source`` when malformed."""
    sections = _sections(text, source)
    for needed in ("Nodes", "Timeplans", "Phases"):
        if needed not in sections:
            raise ConfigError(f"{source}: no [{needed}] section ({SECTION_TITLES[needed]}); not a Synchro UTDF file")
    network = {r["RECORDNAME"]: r.get("DATA", "") for r in sections.get("Network", []) if r.get("RECORDNAME")}
    nodes = {_int(r.get("INTID", ""), f"{source}: [Nodes] INTID"): r for r in sections["Nodes"] if r.get("INTID")}
    plans: dict[int, dict[str, str]] = {}
    for r in sections["Timeplans"]:
        node = _int(r.get("INTID", ""), f"{source}: [Timeplans] INTID")
        plans.setdefault(node, {})[r.get("RECORDNAME", "")] = r.get("DATA", "")
    phase_rows: dict[int, dict[str, dict[str, str]]] = {}
    for r in sections["Phases"]:
        phase_rows.setdefault(_int(r.get("INTID", ""), f"{source}: [Phases] INTID"), {})[r.get("RECORDNAME", "")] = r
    lane_rows: dict[int, dict[str, dict[str, str]]] = {}
    for r in sections.get("Lanes", []):
        node = _int(r.get("INTID", ""), f"{source}: [Lanes] INTID")
        for column, value in r.items():
            if column not in ("RECORDNAME", "INTID", "PED", "HOLD"):
                lane_rows.setdefault(node, {}).setdefault(column, {})[r.get("RECORDNAME", "")] = value
    intersections = {}
    for node, settings in plans.items():
        if node not in phase_rows:
            continue  # a node timed by another node's controller (Timeplans "Node 1")
        where = f"{source}: node {node}"
        cycle = _float(settings.get("Cycle Length", ""), f"{where} Cycle Length")
        if cycle <= 0:
            raise ConfigError(f"{where} Cycle Length: {cycle:g} s; a signalised node needs a cycle above 0 s")
        lanes = {c: recs for c, recs in lane_rows.get(node, {}).items() if recs.get("Up Node") or recs.get("Volume")}
        intersections[node] = UtdfIntersection(
            intid=node, description=nodes.get(node, {}).get("DESCRIPTION", ""),
            cycle_s=cycle,
            offset_s=_float(settings.get("Offset", "0") or "0", f"{where} Offset"),
            reference_phases=_reference(settings.get("Reference Phase", ""), where),
            referenced_to=_int(settings.get("Referenced To", "0") or "0", f"{where} Referenced To"),
            control_type=_int(settings.get("Control Type", "0") or "0", f"{where} Control Type"),
            phases=_phases(phase_rows[node], where), lanes=lanes)
    return UtdfFile(network, sections, intersections, nodes, source)


def _phases(rows: dict[str, dict[str, str]], where: str) -> dict[int, UtdfPhase]:
    """The NEMA phases of one node: the ``D<n>`` columns with a MinGreen or MaxGreen written."""
    columns = [c for c in next(iter(rows.values())) if c[:1] == "D" and c[1:].isdigit()]
    out = {}
    for column in columns:
        values = {name: row.get(column, "") for name, row in rows.items()}
        if not values.get("MaxGreen") and not values.get("MinGreen"):
            continue
        at = f"{where} {column}"
        number = _reader(values, at)
        out[int(column[1:])] = UtdfPhase(
            number=int(column[1:]), brp=int(number("BRP") or 0) or None,
            min_green_s=number("MinGreen", 0.0) or 0.0, max_green_s=number("MaxGreen", 0.0) or 0.0,
            yellow_s=number("Yellow", 0.0) or 0.0, all_red_s=number("AllRed", 0.0) or 0.0,
            start_s=number("Start"), min_split_s=number("MinSplit"), walk_s=number("Walk"),
            dont_walk_s=number("DontWalk"), records=values)
    if not out:
        raise ConfigError(f"{where}: no phase has a MinGreen or MaxGreen in [Phases]")
    return out


def _reader(values: Mapping[str, str], at: str) -> Callable[..., float | None]:
    """``number(record, default)``: the record of one phase column as a number, ``default`` when blank."""
    def number(name: str, default: float | None = None) -> float | None:
        raw = values.get(name, "")
        return _float(raw, f"{at} {name}") if raw else default
    return number


def _sections(text: str, source: str) -> dict[str, list[dict[str, str]]]:
    """``{section: rows}``, each row a ``{header column: value}`` dict (title line skipped)."""
    out: dict[str, list[dict[str, str]]] = {}
    rows: list[dict[str, str]] | None = None
    header: list[str] | None = None
    title_next = False
    for line, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not any(c.strip() for c in row):
            continue
        first = row[0].strip()
        if first.startswith("[") and first.endswith("]"):
            rows, header, title_next = out.setdefault(first[1:-1], []), None, True
            continue
        if rows is None:
            raise ConfigError(f"{source}: line {line}: data before the first [section]; not a UTDF file")
        if title_next:
            title_next = False
            if len(row) == 1 or not row[1].strip():  # the section's title line, e.g. "Phasing Data"
                continue
        if header is None:
            header = [c.strip() for c in row]
            continue
        rows.append({h: (row[k].strip() if k < len(row) else "") for k, h in enumerate(header) if h})
    return out


def _float(raw: str, where: str) -> float:
    try:
        value = float(raw.strip().lstrip("*"))  # Synchro marks overridden values with '*'
    except ValueError:
        raise ConfigError(f"{where}: {raw[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {raw[:40]!r} is not a finite number")
    return value


def _int(raw: str, where: str) -> int:
    value = _float(raw, where)
    if value != int(value):
        raise ConfigError(f"{where}: {raw[:40]!r} is not a whole number")
    return int(value)


def _reference(raw: str, where: str) -> tuple[int, ...]:
    """``Reference Phase``: one phase, or two as ring-A phase * 100 + ring-B phase (206 = 2 and 6)."""
    if not raw:
        return ()
    code = _int(raw, f"{where} Reference Phase")
    return (code // 100, code % 100) if code >= 100 else (code,)


# --- into our plan and demand -------------------------------------------------------------


def tls_of_nodes(utdf: UtdfFile, models: Mapping[str, IntersectionModel]) -> tuple[dict[int, str], list[str]]:
    """INTID -> traffic light, by ``DESCRIPTION``, else by the INTID itself, and notes on the
    signalised nodes that are no light of the network (skipped: a Synchro file may cover more);
    ``ConfigError`` when none is."""
    out, notes = {}, []
    for node, ix in utdf.intersections.items():
        tls = ix.description if ix.description in models else str(node) if str(node) in models else None
        if tls is None:
            notes.append(f"signalised node {node} ({ix.description or 'no DESCRIPTION'}) is no traffic light of the "
                         "network; skipped")
        else:
            out[node] = tls
    if not out:
        raise ConfigError(
            f"{utdf.source}: none of its {len(utdf.intersections)} signalised nodes is a traffic light of the network "
            f"({', '.join(list(models)[:5])}...); write the SUMO traffic light id as each node's DESCRIPTION in "
            "[Nodes], or number the nodes as the lights")
    return out, notes


def plan_from_utdf(utdf: UtdfFile, models: Mapping[str, IntersectionModel], numbering: Mapping[str, RingStructure]
                   ) -> tuple[TimingPlan, list[str]]:
    """The plan in the file, over the network's model phases, and notes on merged intervals."""
    nodes, notes = tls_of_nodes(utdf, models)
    plans = {}
    for node, tls in nodes.items():
        plans[tls] = _intersection_plan(utdf.intersections[node], models[tls], numbering[tls], notes, utdf.source)
    return TimingPlan(plans, "utdf", f"imported from {utdf.source}"), notes


def _intersection_plan(ix: UtdfIntersection, model: IntersectionModel, ring: RingStructure, notes: list[str],
                       source: str) -> IntersectionPlan:
    where = f"{source}: node {ix.intid} ({model.tls_id})"
    try:
        intervals = ix.intervals()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    stage_of = [ring.model_phase(i.phases) for i in intervals]
    matched = [j for j, k in enumerate(stage_of) if k is not None]
    if not matched:
        raise ConfigError(f"{where}: none of its NEMA phase combinations is a phase of the network's program "
                          f"({', '.join(str(sorted(i.phases)) for i in intervals)}); give a --nema-mapping")
    owner = _merge_unmatched(intervals, stage_of, matched, ring)
    for j, interval in enumerate(intervals):
        if stage_of[j] is None:
            notes.append(f"node {ix.intid} ({model.tls_id}): NEMA phases {sorted(interval.phases)} for "
                         f"{interval.length_s:g} s are no phase of the network's program; added to its phase "
                         f"{stage_of[owner[j]]}")
    groups: list[list[int]] = []  # intervals of each model phase, in cycle order, from the first matched one
    n = len(intervals)
    for step in range(n):
        j = (matched[0] + step) % n
        if groups and owner[j] == owner[groups[-1][-1]]:
            groups[-1].append(j)
        else:
            groups.append([j])
    if len(groups) > 1 and owner[groups[-1][0]] == owner[groups[0][0]]:  # the cycle wraps inside one phase
        groups[0] = groups.pop() + groups[0]
    if len({stage_of[owner[g[0]]] for g in groups}) != len(groups):
        raise ConfigError(f"{where}: a phase of the network's program is green twice in the cycle")
    stages = []
    for g in groups:
        last = intervals[g[-1]]
        ending = [ix.phases[q] for q in last.ending]
        yellow = max((p.yellow_s for p in ending), default=0.0)
        all_red = max((p.all_red_s for p in ending), default=0.0)
        min_green = max((p.min_green_s for p in ending), default=0.0)
        split = sum(intervals[j].length_s for j in g)
        k = stage_of[owner[g[0]]]
        assert k is not None
        stages.append((k, intervals[g[0]].start_s, round(split - yellow - all_red, 2), yellow, all_red, min_green))
    first = min(range(len(stages)), key=lambda i: stages[i][0])
    stages = stages[first:] + stages[:first]
    phases = tuple(PhaseTiming(k, green, y, ar, mg, model.phases[k].max_green_s) for k, _, green, y, ar, mg in stages)
    coordinated = _coordinated(ix, ring, [s[0] for s in stages])
    offset = next(s[1] for s in stages if s[0] == coordinated) % ix.cycle_s
    return IntersectionPlan(model.tls_id, ix.cycle_s, round(offset, 2) % ix.cycle_s, phases, coordinated)


def _merge_unmatched(intervals: list[Interval], stage_of: list[int | None], matched: list[int],
                     ring: RingStructure) -> list[int]:
    """Interval -> the matched interval whose model phase takes its time: itself when matched;
    else the matched neighbour before or after it on the same side of the barrier, then the
    one sharing more NEMA phases, then the one before. Within a run of unmatched intervals,
    once one goes to the phase after, the rest do too, so each phase's time stays in one piece."""
    n = len(intervals)
    owner = list(range(n))

    barriers = STANDARD_BARRIERS if ring.standard else ring.barriers  # the file may use phases the model lacks

    def side(j: int) -> set[int]:
        return {b for q in intervals[j].phases for b, group in enumerate(barriers) if q in group}

    for pos, m in enumerate(matched):
        nxt = matched[(pos + 1) % len(matched)]
        gap = [(m + d) % n for d in range(1, (nxt - m) % n or n) if stage_of[(m + d) % n] is None]
        to_next = False
        for j in gap:
            if not to_next:
                score_prev = (bool(side(j) & side(m)), len(intervals[j].phases & intervals[m].phases))
                score_next = (bool(side(j) & side(nxt)), len(intervals[j].phases & intervals[nxt].phases))
                to_next = score_next > score_prev
            owner[j] = nxt if to_next else m
    return owner


def _coordinated(ix: UtdfIntersection, ring: RingStructure, sequence: list[int]) -> int:
    """The model phase of the reference phases (the first one showing all of them), else the first."""
    wanted = set(ix.reference_phases)
    for k in sequence:
        if wanted and wanted <= set(ring.stages[k]):
            return k
    for k in sequence:
        if wanted & set(ring.stages[k]):
            return k
    return sequence[0]


def demand_from_utdf(utdf: UtdfFile, models: Mapping[str, IntersectionModel],
                     directions: Mapping[str, Mapping[str, str]]) -> tuple[DemandEstimate | None, list[str]]:
    """The ``[Lanes]`` ``Volume`` records as demand (veh/h per movement; ``L2`` adds to ``L``),
    and notes on volumes that no movement of the network takes; None when there are none."""
    flows: dict[str, dict[str, float]] = {}
    nodes, notes = tls_of_nodes(utdf, models)
    for node, tls in nodes.items():
        model = models[tls]
        by_column = {directions[tls].get(m.approach, "") + TURN_CODES[m.turn]: m.id for m in model.movements}
        for column, volume in utdf.intersections[node].volumes_veh_h().items():
            movement = by_column.get(column[:2] + TURN_CODES[_TURN_OF_CODE.get(column[2:], "through")])
            if column[2:] not in _TURN_OF_CODE or movement is None:
                if volume > 0:
                    notes.append(f"node {node} ({tls}): {column} {volume:g} veh/h has no movement in the network")
                continue
            flows.setdefault(tls, {})[movement] = flows.get(tls, {}).get(movement, 0.0) + volume
    return (DemandEstimate(flows, source=utdf.source) if flows else None), notes


# --- the UTDF volume file (Turning Movement Count) --------------------------------------------


def read_tmc_volumes(text: str, models: Mapping[str, IntersectionModel], node_ids: Mapping[str, int],
                     directions: Mapping[str, Mapping[str, str]], source: str = "UTDF volumes") -> DemandEstimate:
    """Hourly volumes of a UTDF volume file as demand (the busiest time's row per intersection)."""
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next((k for k, r in enumerate(rows) if [c.strip() for c in r[:3]] == ["DATE", "TIME", "INTID"]), None)
    if header_at is None:
        raise ConfigError(f"{source}: no DATE,TIME,INTID header; not a UTDF volume file")
    header = [c.strip() for c in rows[header_at]]
    by_node = {n: t for t, n in node_ids.items()}
    best: dict[str, dict[str, float]] = {}
    for r in rows[header_at + 1:]:
        if len(r) < 3 or not r[2].strip():
            continue
        tls_id = by_node.get(_int(r[2], f"{source}: INTID"))
        if tls_id is None:
            raise ConfigError(f"{source}: INTID {r[2]} is not a node of the network")
        by_column = {directions[tls_id].get(m.approach, "") + TURN_CODES[m.turn]: m.id for m in models[tls_id].movements}
        row_flows: dict[str, float] = {}
        for column, value in zip(header[3:], r[3:]):
            movement = by_column.get(column) if value.strip() else None
            if movement is not None:
                row_flows[movement] = _float(value, f"{source}: INTID {r[2]} {column}")
        if sum(row_flows.values()) > sum(best.get(tls_id, {}).values()):
            best[tls_id] = row_flows
    return DemandEstimate(best, source=source)

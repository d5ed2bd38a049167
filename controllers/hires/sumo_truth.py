"""The event recorder as an observer of a SUMO run: any controller, its decisions untouched.

:class:`SumoEventLog` is the log of one run; :class:`EventLogObserver` wraps a controller in
it (and is itself a controller for the runner): each step, before the wrapped controller
acts, it reads what the virtual detectors saw and the state every
signal showed during the last simulated step (stamped at that step's start, when SUMO's
program switches and a controller's commands take effect) and hands both to a
:class:`~controllers.hires.recorder.DeviceRecorder` per traffic light. It only reads SUMO; the detectors
it adds are passive, so the controller sees and decides exactly what it would without it.

Virtual detectors on every lane that reaches a signal's stop line (SUMO truth):

* ``Presence``: a lane-area detector over the last ``STOP_BAR_ZONE_M`` before the stop line,
  a stop-bar presence zone (split failures, phase calls, gap-outs);
* ``Yellow_Red``: an induction loop ``YELLOW_RED_M`` before the stop line (red-light running);
* ``Advance``: an induction loop ``ADVANCE_M`` upstream of the stop line, on the lanes of the
  approach's through phase, following the road upstream while the stop-line edge is shorter
  (arrivals on green, Purdue coordination diagrams).

Loops report each vehicle's entry and exit time within the step; the presence zone is
sampled once per step (its on/off times are whole simulation steps).

Device ids are 1, 2, ... in the network's traffic-light order; the pattern is the running
plan's (:func:`running_pattern`).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sumolib
from traci.constants import (
    LAST_STEP_VEHICLE_NUMBER,
    TL_CURRENT_PROGRAM,
    TL_RED_YELLOW_GREEN_STATE,
)

from controllers.hires.enumerations import FREE_PATTERN, EventId
from controllers.hires.files import EventLogFiles, write_event_log
from controllers.hires.nema_numbers import NemaPhase, nema_phases
from controllers.hires.recorder import ADVANCE, PRESENCE, YELLOW_RED, ZERO_INTERVAL_S, Detector, DeviceRecorder
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import Controller, Simulation
from sumo_scenarios.scenario import Scenario

STOP_BAR_ZONE_M = 12.0  # a 40 ft stop-bar presence zone, the common US size
YELLOW_RED_M = 1.0
ADVANCE_M = 100.0  # far enough upstream to count arrivals before they join a typical queue
DETECTOR_FILE = "phasewise-event-detectors.add.xml"


@dataclass(frozen=True)
class VirtualDetector:
    """A detector placed in SUMO: ``kind`` ``e1`` (loop at ``pos_m``) or ``e2`` (zone from ``pos_m``)."""

    sumo_id: str
    tls_id: str
    device_id: int
    detector: Detector
    lane: str
    kind: str
    pos_m: float
    length_m: float = 0.0


@dataclass(frozen=True)
class SignalLayout:
    """Everything the log needs about the signals of a network: devices, phases, detectors."""

    device_ids: dict[str, int]
    phases: dict[str, dict[int, NemaPhase]]
    detectors: tuple[VirtualDetector, ...]
    crossings: dict[str, dict[int, tuple[int, ...]]]  # tls -> pedestrian phase -> crossing link indices


def signal_layout(net_file: Path, models: dict[str, IntersectionModel]) -> SignalLayout:
    """NEMA phases, pedestrian crossings and virtual detectors of every modelled traffic light."""
    net = sumolib.net.readNet(str(net_file), withPedestrianConnections=True)
    device_ids = {tls: k + 1 for k, tls in enumerate(models)}
    phases = {tls: nema_phases(model, _headings(net, model)) for tls, model in models.items()}
    detectors: list[VirtualDetector] = []
    for tls, by_number in phases.items():
        detectors += _place(net, tls, device_ids[tls], by_number)
    crossings = {tls: _crossings(net, models[tls], phases[tls]) for tls in models}
    return SignalLayout(device_ids, phases, tuple(detectors), crossings)


def _crossings(net: sumolib.net.Net, model: IntersectionModel, phases: dict[int, NemaPhase]) -> dict[int, tuple[int, ...]]:
    """Pedestrian phase -> its crossings' signal links. A crossing belongs to the vehicle phase
    (not a protected left) green in the most program phases that give the crossing green: the
    through movement it runs beside."""
    try:
        connections = net.getTLS(model.tls_id).getConnections()
    except KeyError:
        return {}
    out: dict[int, list[int]] = {}
    for _in_lane, out_lane, index in connections:
        if out_lane.getEdge().getFunction() != "crossing":
            continue
        score = {n: sum(1 for mp in model.phases if index < len(mp.state) and mp.state[index] in "Gg"
                        and p.signal_links & mp.green_links)
                 for n, p in phases.items() if not p.protected_only}
        best = max(score, key=lambda n: (score[n], -n), default=None)
        if best is not None and score[best] > 0:
            out.setdefault(best, []).append(index)
    return {n: tuple(sorted(links)) for n, links in sorted(out.items())}


def _headings(net: sumolib.net.Net, model: IntersectionModel) -> dict[str, float]:
    """Each approach's travel direction at its stop line, degrees (0 east, 90 north)."""
    out = {}
    for approach in model.approaches:
        try:
            shape = net.getEdge(approach).getLanes()[0].getShape()
        except KeyError:
            continue
        (x0, y0), (x1, y1) = shape[-2][:2], shape[-1][:2]
        out[approach] = math.degrees(math.atan2(y1 - y0, x1 - x0))
    return out


def _place(net: sumolib.net.Net, tls: str, device_id: int, phases: dict[int, NemaPhase]) -> list[VirtualDetector]:
    placed: list[VirtualDetector] = []

    def add(number: int, function: str, lane: str, kind: str, pos_m: float, length_m: float = 0.0) -> None:
        channel = len(placed) + 1
        placed.append(VirtualDetector(f"pw_{device_id}_{channel}", tls, device_id, Detector(channel, number, function),
                                      lane, kind, round(pos_m, 2), round(length_m, 2)))

    for number, phase in phases.items():
        for lane_id in phase.lanes:
            length = net.getLane(lane_id).getLength()
            zone = min(STOP_BAR_ZONE_M, length)
            add(number, PRESENCE, lane_id, "e2", length - zone, zone)
            add(number, YELLOW_RED, lane_id, "e1", max(0.0, length - YELLOW_RED_M))
    for number, phase in phases.items():
        if phase.protected_only:
            continue  # advance detection serves the through phases
        for lane_id, pos in _advance_positions(net, phase.approach):
            add(number, ADVANCE, lane_id, "e1", pos)
    return placed


def _advance_positions(net: sumolib.net.Net, approach: str) -> list[tuple[str, float]]:
    """(lane, position) ``ADVANCE_M`` upstream of the approach's stop line, one per lane there."""
    edge = net.getEdge(approach)
    remaining = ADVANCE_M
    while edge.getLength() < remaining:
        upstream = list(edge.getIncoming())
        if len(upstream) != 1 or upstream[0].getFromNode().getType() == "traffic_light":
            return [(lane.getID(), 0.0) for lane in edge.getLanes() if lane.allows("passenger")]
        remaining -= edge.getLength()
        edge = upstream[0]
    return [(lane.getID(), edge.getLength() - remaining) for lane in edge.getLanes() if lane.allows("passenger")]


def write_detectors(detectors: tuple[VirtualDetector, ...], path: Path) -> Path:
    """A SUMO additional file defining the virtual detectors (no output files)."""
    root = ET.Element("additional")
    for d in detectors:
        if d.kind == "e1":
            ET.SubElement(root, "inductionLoop", id=d.sumo_id, lane=d.lane, pos=f"{d.pos_m:g}",
                          period="86400", file="NUL")
        else:
            ET.SubElement(root, "laneAreaDetector", id=d.sumo_id, lane=d.lane, pos=f"{d.pos_m:g}",
                          length=f"{d.length_m:g}", period="86400", file="NUL")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def running_pattern(controller: Any) -> TimingPlan | None:
    """The plan a controller runs, when it has one: the adaptive policy's or a fixed plan's."""
    policy = getattr(controller, "policy", None)
    for holder in (policy, controller):
        plan = getattr(holder, "plan", None)
        if isinstance(plan, TimingPlan):
            return plan
    return None


def priority_records(controller: Any) -> tuple[Sequence[Any], Sequence[Any]]:
    """The preemption events and transit grants a controller has reported so far (none for
    a controller without them)."""
    policy = getattr(controller, "policy", None)
    return (getattr(getattr(policy, "preemption", None), "events", ()), getattr(getattr(policy, "transit", None), "grants", ()))


class SumoEventLog:
    """The event log of the signals of one SUMO run, read from SUMO each step.

    Build it before SUMO starts (its detectors go into :meth:`detector_file`, loaded as an
    additional file), :meth:`start` it once SUMO runs, :meth:`observe` each step before the
    signals are driven, :meth:`write` at the end. ``plan_of`` gives the timing plan being run,
    when there is one (pattern, cycle and offset events).
    """

    def __init__(self, net_file: Path, models: dict[str, IntersectionModel],
                 plan_of: Callable[[], TimingPlan | None] = lambda: None,
                 priority_of: Callable[[], tuple[Sequence[Any], Sequence[Any]]] = lambda: ((), ())):
        self.models = models
        self.priority_of = priority_of
        self._priority_seen: dict[tuple[str, int], tuple[bool, bool]] = {}  # (kind, index) -> (dwell/adjusted, ended)
        self._priority_off: dict[tuple[str, str, int], float] = {}  # (kind, tls, number) -> its last call off
        self.layout = signal_layout(net_file, models)
        self.plan_of = plan_of
        self.recorders: dict[str, DeviceRecorder] = {}
        self._programs: dict[str, str] = {}
        self._patterns: dict[str, int] = {}
        self._plan: TimingPlan | None = None
        self._loops_on: dict[str, set[str]] = {d.sumo_id: set() for d in self.layout.detectors}
        self._step_s = 1.0
        self._begin_s = 0.0

    def detector_file(self, folder: Path) -> Path:
        return write_detectors(self.layout.detectors, folder / DETECTOR_FILE)

    def start(self, conn: Any) -> None:
        self._step_s = float(conn.simulation.getDeltaT())
        self._begin_s = float(conn.simulation.getTime())
        # subscriptions: SUMO hands every detector's count of the last step over in one call
        # per kind; a loop's vehicle data is asked for only when it saw a vehicle
        for d in self.layout.detectors:
            (conn.inductionloop if d.kind == "e1" else conn.lanearea).subscribe(d.sumo_id, [LAST_STEP_VEHICLE_NUMBER])
        for tls in self.layout.device_ids:
            conn.trafficlight.subscribe(tls, [TL_RED_YELLOW_GREEN_STATE, TL_CURRENT_PROGRAM])
        by_tls: dict[str, dict[int, Detector]] = {}
        for d in self.layout.detectors:
            by_tls.setdefault(d.tls_id, {})[d.detector.channel] = d.detector
        for tls, device_id in self.layout.device_ids.items():
            model = self.models[tls]
            phases = self.layout.phases[tls]
            max_green = {n: max((mp.max_green_s for mp in model.phases if p.signal_links & mp.green_links),
                                default=math.inf) for n, p in phases.items()}
            self.recorders[tls] = DeviceRecorder(device_id, phases, max_green, by_tls.get(tls, {}),
                                                 crossings=self.layout.crossings.get(tls, {}))

    def observe(self, conn: Any) -> None:
        """Read the step just simulated: SUMO still shows its state (a program's switch and a
        state set by a controller both took effect at its start), stamped at that start."""
        now = float(conn.simulation.getTime())
        shown_s = max(now - self._step_s, self._begin_s)  # at the start: the state SUMO loaded with
        self._read_detectors(conn)
        signals = conn.trafficlight.getAllSubscriptionResults()
        self._read_plans(conn, shown_s, {tls: values[TL_CURRENT_PROGRAM] for tls, values in signals.items()})
        for tls, recorder in self.recorders.items():
            recorder.signal(shown_s, signals[tls][TL_RED_YELLOW_GREEN_STATE])
        self._read_priority()

    def _read_priority(self) -> None:
        """Log the preemptions and transit grants the controller reported since the last step,
        at their own times; the input number is the approach's place in the model (from 1)."""
        preemptions, grants = self.priority_of()
        for kind, records in (("preempt", preemptions), ("tsp", grants)):
            for index, record in enumerate(records):
                recorder = self.recorders.get(record.tls_id)
                approaches = self.models[record.tls_id].approaches if record.tls_id in self.models else ()
                if recorder is None or record.approach not in approaches:
                    continue
                number = approaches.index(record.approach) + 1
                # a call that begins as the last one on the same input ends comes 1 ms after
                # its call off, so readers that order by time then event id pair them right
                after_off = self._priority_off.get((kind, record.tls_id, number), -math.inf) + ZERO_INTERVAL_S
                start_s = max(record.start_s, after_off)
                marked, ended = self._priority_seen.get((kind, index), (False, False))
                if (kind, index) not in self._priority_seen:
                    first = ((EventId.PREEMPT_CALL_INPUT_ON, EventId.PREEMPT_ENTRY_STARTED) if kind == "preempt"
                             else (EventId.TSP_CHECK_IN,))
                    for event in first:
                        recorder.priority(start_s, event, number)
                if kind == "preempt" and not marked and record.green_s is not None:
                    recorder.priority(max(record.green_s, start_s), EventId.PREEMPT_BEGIN_DWELL, number)
                    marked = True
                elif kind == "tsp" and not marked:
                    recorder.priority(start_s, EventId.TSP_EARLY_GREEN if record.kind == "early"
                                      else EventId.TSP_EXTEND_GREEN, number)
                    marked = True
                if not ended and record.end_s is not None:
                    recorder.priority(record.end_s, EventId.PREEMPT_CALL_INPUT_OFF if kind == "preempt"
                                      else EventId.TSP_CHECK_OUT, number)
                    self._priority_off[(kind, record.tls_id, number)] = record.end_s
                    ended = True
                self._priority_seen[(kind, index)] = (marked, ended)

    def write(self, folder: Path) -> None:
        if self.recorders:  # nothing when the run failed before it started
            write_event_log(folder, EventLogFiles.from_layout(self.layout, self.recorders))

    def _read_detectors(self, conn: Any) -> None:
        now = float(conn.simulation.getTime())
        loops = conn.inductionloop.getAllSubscriptionResults()
        zones = conn.lanearea.getAllSubscriptionResults()
        for d in self.layout.detectors:
            recorder = self.recorders[d.tls_id]
            if d.kind == "e2":
                recorder.detector(now, d.detector.channel, zones.get(d.sumo_id, {}).get(LAST_STEP_VEHICLE_NUMBER, 0) > 0)
                continue
            on = self._loops_on[d.sumo_id]
            if not on and not loops.get(d.sumo_id, {}).get(LAST_STEP_VEHICLE_NUMBER, 0):
                continue
            for vehicle, _length, entry_s, exit_s, _type in conn.inductionloop.getVehicleData(d.sumo_id):
                if vehicle not in on and entry_s >= 0:
                    on.add(vehicle)
                    recorder.detector(entry_s, d.detector.channel, True)
                if exit_s >= 0 and vehicle in on:
                    on.discard(vehicle)
                    if not on:
                        recorder.detector(exit_s, d.detector.channel, False)

    def _read_plans(self, conn: Any, now: float, programs: dict[str, str]) -> None:
        """Log the pattern each signal runs: a fixed-time program's cycle, or the controller's plan."""
        plan = self.plan_of()
        plan_changed = plan is not self._plan
        self._plan = plan
        for tls, recorder in self.recorders.items():
            program = programs[tls]
            if program == self._programs.get(tls) and not plan_changed:
                continue
            self._programs[tls] = program
            logic = next((lg for lg in conn.trafficlight.getAllProgramLogics(tls) if lg.programID == program), None)
            fixed = logic is not None and logic.type == 0 and program != "online"
            recorder.fixed_time = fixed
            ip = plan.intersections.get(tls) if plan is not None else None
            if fixed:
                cycle_s = sum(p.duration for p in logic.phases)  # type: ignore[union-attr]
                offset_s = ip.offset_s if ip is not None else self.models[tls].program_offset_s
            elif ip is not None:
                cycle_s, offset_s = ip.cycle_s, ip.offset_s
            else:
                recorder.plan(now, FREE_PATTERN, 0, 0)
                continue
            self._patterns[tls] = min(self._patterns.get(tls, 0) + 1, FREE_PATTERN - 1)
            recorder.plan(now, self._patterns[tls], cycle_s, offset_s)


class EventLogObserver:
    """Runs ``inner`` and writes its hi-res event log to ``out_dir`` when the run closes."""

    def __init__(self, inner: Callable[[], Controller], out_dir: Path):
        self.inner = inner()
        self.name = self.inner.name
        self.out_dir = Path(out_dir)
        self._log: SumoEventLog | None = None

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        files = self.inner.additional_files(scenario, workdir)
        models = load_intersections(scenario.net_file, program_files=scenario.additional_files)
        self._log = SumoEventLog(scenario.net_file, models, plan_of=lambda: running_pattern(self.inner),
                                 priority_of=lambda: priority_records(self.inner))
        return [*files, self._log.detector_file(workdir)]

    def start(self, sim: Simulation) -> None:
        self.inner.start(sim)
        assert self._log is not None, "additional_files() first"
        self._log.start(sim.conn)

    def step(self, sim: Simulation) -> None:
        assert self._log is not None
        self._log.observe(sim.conn)  # before the controller acts: what the last step showed
        self.inner.step(sim)

    def report(self) -> dict:
        return getattr(self.inner, "report", dict)()

    def close(self) -> None:
        getattr(self.inner, "close", lambda: None)()
        if self._log is not None:
            self._log.write(self.out_dir)

"""The one metric definition: delay, throughput, stops and queues of a SUMO run.

Delay follows the RESCO benchmark (Ault & Sharon, 2021) so numbers compare with published
ones: per vehicle ``timeLoss + departDelay`` from SUMO's tripinfo, counting

* vehicles that arrived,
* vehicles still running at the end (``--tripinfo-output.write-unfinished``), and
* vehicles that were scheduled to depart within the period but never got inserted; each is
  charged ``end - scheduled departure``.

``delay_s_per_vehicle`` is the mean over all three groups. Throughput is the number of
arrived vehicles; stops per vehicle is SUMO's ``waitingCount`` (times a vehicle came to a
halt) averaged over the same vehicles. CO2 (g) and fuel (ml) per vehicle come from SUMO's
emission device on every vehicle (HBEFA 4.2, SUMO's default emission classes; fuel as
volume with ``--emissions.volumetric-fuel``): everything the vehicles emitted in the network
during the period, arrived or still running, over the same vehicles as the delay. A vehicle
never inserted emits nothing here (it waits outside the network), so a controller that
blocks the entries looks cleaner than it is; its delay shows it. They are None for a run
without the device (the gate's twins).

``by_vclass`` splits delay, count and stops by SUMO vehicle class (``passenger``, ``bus``,
``emergency``, ... from the vType definitions in the route and additional files; a type
without ``vClass`` is ``passenger`` as in SUMO), with the same three groups of vehicles, and
adds ``pedestrian`` when the run has persons: their delay is the ``timeLoss`` of their walks
(waiting at crossings included), per person, and ``longest_wait_s``: the longest time one
person stood still in one go (SUMO's person waiting time, sampled every step by the probe;
e.g. at a crossing showing don't-walk). The headline numbers stay per vehicle. Per
intersection, :class:`IntersectionProbe` samples
every step the halting vehicles per approach (queue, vehicles), the time lost on the
approach lanes (``n * (1 - mean speed / speed limit)`` per lane and second) and the longest
stall: on one approach lane, the seconds of protected green (``G`` on each of its links) it
was shown while vehicles halted on it and none of its vehicles came out of the junction onto
an exit lane, summed from one vehicle out to the next (a lock: a movement that has its green
and a queue and does not discharge, because its exit is full or the box is blocked; red
time does not count, so a long red is no stall, nor does a permitted turn waiting for a
gap).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from optimizer.intersection import IntersectionModel
from phasewise_errors import SimulationError
from sumo_scenarios.scenario import Scenario


@dataclass(frozen=True)
class ApproachQueue:
    mean_queue_veh: float
    max_queue_veh: float


@dataclass(frozen=True)
class IntersectionMetrics:
    delay_s_per_vehicle: float
    vehicles: int
    time_loss_s: float
    approaches: dict[str, ApproachQueue]
    longest_stall_s: float = 0.0


@dataclass(frozen=True)
class ClassMetrics:
    """Delay, count and stops of one vehicle class (or pedestrians, per person)."""

    delay_s_per_vehicle: float
    vehicles: int
    stops_per_vehicle: float
    longest_wait_s: float | None = None  # pedestrians only (module docstring)


@dataclass(frozen=True)
class RunMetrics:
    """Metrics of one run (one seed)."""

    delay_s_per_vehicle: float
    throughput_veh: int
    stops_per_vehicle: float
    vehicles: int
    unfinished: int
    never_inserted: int
    intersections: dict[str, IntersectionMetrics] = field(default_factory=dict)
    co2_g_per_vehicle: float | None = None
    fuel_ml_per_vehicle: float | None = None
    by_vclass: dict[str, ClassMetrics] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class IntersectionProbe:
    """Samples queues and approach time loss of every intersection once per step.

    Vehicles are counted once per intersection: an id is remembered while the vehicle is on
    the intersection's incoming lanes and for ``FORGET_AFTER_STEPS`` after (a vehicle is not
    back on the same approaches after that long), then only counted, so that a run of days
    (the daemon's software in the loop) keeps a bounded set.
    """

    FORGET_AFTER_STEPS = 900

    def __init__(self, conn: ModuleType, intersections: dict[str, IntersectionModel]):
        self._conn = conn
        self._ids = list(intersections)
        lanes: list[str] = []
        owner: list[int] = []
        approach_keys: list[str] = []
        approach_of_lane: list[int] = []
        for k, model in enumerate(intersections.values()):
            lane_approach = {link.from_lane: link.approach for link in model.links}
            for lane, approach in lane_approach.items():
                key = f"{model.tls_id}|{approach}"
                if key not in approach_keys:
                    approach_keys.append(key)
                lanes.append(lane)
                owner.append(k)
                approach_of_lane.append(approach_keys.index(key))
        self._lanes = lanes
        self._owner = np.asarray(owner, dtype=np.int64)
        self._approach_keys = approach_keys
        self._approach_of_lane = np.asarray(approach_of_lane, dtype=np.int64)
        self._max_speed = np.asarray([conn.lane.getMaxSpeed(lane) for lane in lanes])
        self._queue_sum = np.zeros(len(approach_keys))
        self._queue_max = np.zeros(len(approach_keys))
        self._time_loss = np.zeros(len(self._ids))
        self._seen: list[dict[str, int]] = [{} for _ in self._ids]  # vehicle id -> step last seen
        models = list(intersections.values())
        self._lane_links = [[link.index for link in models[k].links if link.from_lane == lane]
                            for lane, k in zip(lanes, owner)]
        self._exit_lanes = list(dict.fromkeys(lane for model in models for lane in model.outgoing_lanes))
        self._on_exit: set[str] = set()  # vehicles on the exit lanes last step
        self._origin: dict[str, int] = {}  # vehicle -> the approach lane (index) it was last seen on
        self._step_s = float(conn.simulation.getDeltaT())
        self._stall = np.zeros(len(lanes))  # per approach lane: protected green seconds with a queue, none out
        self._longest_stall = np.zeros(len(self._ids))
        self._forgotten = [0] * len(self._ids)
        self._steps = 0
        self.longest_person_wait_s = 0.0  # the longest a person stood still in one go
        self._person_api = getattr(conn, "person", None)  # None: a connection without persons

    def sample(self) -> None:
        lane_api = self._conn.lane
        halting = np.fromiter((lane_api.getLastStepHaltingNumber(l) for l in self._lanes), float, len(self._lanes))
        count = np.fromiter((lane_api.getLastStepVehicleNumber(l) for l in self._lanes), float, len(self._lanes))
        speed = np.fromiter((lane_api.getLastStepMeanSpeed(l) for l in self._lanes), float, len(self._lanes))
        queue = np.bincount(self._approach_of_lane, halting, len(self._approach_keys))
        self._queue_sum += queue
        np.maximum(self._queue_max, queue, out=self._queue_max)
        loss = count * np.clip(1.0 - speed / np.maximum(self._max_speed, 0.1), 0.0, 1.0)
        self._time_loss += np.bincount(self._owner, loss, len(self._ids))
        step = self._steps
        self._sample_stall(halting)  # before this step's approach lanes: an exit may be one too
        for i in np.flatnonzero(count):
            ids = lane_api.getLastStepVehicleIDs(self._lanes[i])
            self._seen[self._owner[i]].update(dict.fromkeys(ids, step))
            self._origin.update(dict.fromkeys(ids, int(i)))
        persons = self._person_api.getIDList() if self._person_api is not None else ()
        if persons:
            wait = max(self._person_api.getWaitingTime(p) for p in persons)
            self.longest_person_wait_s = max(self.longest_person_wait_s, float(wait))
        self._steps += 1
        if self._steps % self.FORGET_AFTER_STEPS == 0:
            for k, seen in enumerate(self._seen):
                kept = {v: last for v, last in seen.items() if step - last < self.FORGET_AFTER_STEPS}
                self._forgotten[k] += len(seen) - len(kept)
                self._seen[k] = kept
            self._origin = {v: i for v, i in self._origin.items() if v in self._seen[self._owner[i]]}

    def _sample_stall(self, halting: np.ndarray) -> None:
        """Advance each approach lane's stall clock (see the module docstring): a vehicle new on
        an exit lane came out from the approach lane it was last seen on."""
        lane_api, light_api = self._conn.lane, self._conn.trafficlight
        on_exit: set[str] = set()
        for lane in self._exit_lanes:
            if lane_api.getLastStepVehicleNumber(lane):
                on_exit.update(lane_api.getLastStepVehicleIDs(lane))
        out = np.zeros(len(self._lanes), dtype=bool)
        for vid in on_exit - self._on_exit:
            lane = self._origin.pop(vid, None)
            if lane is not None:
                out[lane] = True
        self._on_exit = on_exit
        states = [light_api.getRedYellowGreenState(tls) for tls in self._ids]
        green = np.array([bool(links) and all(i < len(states[k]) and states[k][i] == "G" for i in links)
                          for k, links in zip(self._owner, self._lane_links)], dtype=bool)
        self._stall = np.where(out | (halting == 0), 0.0, self._stall + np.where(green, self._step_s, 0.0))
        np.maximum.at(self._longest_stall, self._owner, self._stall)

    def summary(self) -> dict[str, IntersectionMetrics]:
        steps = max(self._steps, 1)
        out = {}
        for k, tls_id in enumerate(self._ids):
            approaches = {
                key.split("|", 1)[1]: ApproachQueue(
                    mean_queue_veh=round(float(self._queue_sum[j] / steps), 3),
                    max_queue_veh=float(self._queue_max[j]),
                )
                for j, key in enumerate(self._approach_keys)
                if key.startswith(f"{tls_id}|")
            }
            vehicles = len(self._seen[k]) + self._forgotten[k]
            out[tls_id] = IntersectionMetrics(
                delay_s_per_vehicle=round(float(self._time_loss[k] / max(vehicles, 1)), 3),
                vehicles=vehicles,
                time_loss_s=round(float(self._time_loss[k]), 1),
                approaches=approaches,
                longest_stall_s=float(self._longest_stall[k]),
            )
        return out


def scheduled_departures(scenario: Scenario) -> dict[str, float]:
    """Vehicle id -> scheduled departure for every vehicle/trip (and expanded flow) in the period."""
    return {vid: depart for vid, (depart, _) in _schedule(scenario).items()}


DEFAULT_TYPES = {"DEFAULT_VEHTYPE": "passenger", "DEFAULT_PEDTYPE": "pedestrian", "DEFAULT_BIKETYPE": "bicycle",
                 "DEFAULT_TAXITYPE": "taxi", "DEFAULT_RAILTYPE": "rail_urban", "DEFAULT_CONTAINERTYPE": "ignoring"}


def vehicle_classes(scenario: Scenario, files: tuple[Path, ...] | None = None) -> dict[str, str]:
    """vType id -> SUMO vClass, from ``files`` (default: the route and additional files; SUMO's
    default types included)."""
    classes = dict(DEFAULT_TYPES)
    for path in files if files is not None else (*scenario.route_files, *scenario.additional_files):
        try:
            for _, elem in ET.iterparse(path, events=("end",)):
                if elem.tag == "vType":
                    classes[elem.get("id", "")] = elem.get("vClass", "passenger")
                elif elem.tag in ("vehicle", "trip", "flow", "person"):
                    elem.clear()
        except (OSError, ET.ParseError):
            continue  # SUMO has read these files; one it could not is reported by SUMO itself
    return classes


def _schedule(scenario: Scenario, classes: dict[str, str] | None = None) -> dict[str, tuple[float, str]]:
    """Vehicle id -> (scheduled departure, vType id) for every vehicle/trip (and expanded flow)
    in the period; the route files' vTypes go into ``classes`` on the same pass."""
    departures: dict[str, tuple[float, str]] = {}
    for route_file in scenario.route_files:
        for _, elem in ET.iterparse(route_file, events=("end",)):
            if elem.tag == "vType" and classes is not None:
                classes[elem.get("id", "")] = elem.get("vClass", "passenger")
            elif elem.tag in ("vehicle", "trip"):
                depart = _depart_seconds(elem.get("depart", "0"))
                if depart is not None and scenario.begin_s <= depart < scenario.end_s:
                    departures[elem.get("id", "")] = (depart, elem.get("type", "DEFAULT_VEHTYPE"))
                elem.clear()
            elif elem.tag == "flow":
                vtype = elem.get("type", "DEFAULT_VEHTYPE")
                departures.update({vid: (t, vtype) for vid, t in _flow_departures(elem, scenario).items()})
                elem.clear()
    return departures


def _depart_seconds(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None  # "triggered", "containerTriggered": not scheduled in time


def _flow_departures(elem: ET.Element, scenario: Scenario) -> dict[str, float]:
    """Scheduled departures of a flow with a fixed headway (``number``/``vehsPerHour``/``period``)."""
    begin = float(elem.get("begin", scenario.begin_s))
    end = float(elem.get("end", scenario.end_s))
    if elem.get("number"):
        n = int(elem.get("number", "0"))
        period = (end - begin) / max(n, 1)
    elif elem.get("vehsPerHour"):
        period = 3600.0 / float(elem.get("vehsPerHour", "1"))
    elif elem.get("period") and not elem.get("period", "").startswith("exp"):
        period = float(elem.get("period", "1"))
    else:
        return {}  # probabilistic flows have no fixed schedule
    flow_id = elem.get("id", "")
    times = np.arange(begin, min(end, scenario.end_s), period)
    return {f"{flow_id}.{i}": float(t) for i, t in enumerate(times) if t >= scenario.begin_s}


def read_run_metrics(
    tripinfo: Path, scenario: Scenario, intersections: dict[str, IntersectionMetrics],
    longest_person_wait_s: float | None = None,
) -> RunMetrics:
    """Combine SUMO's tripinfo (with unfinished vehicles) and the schedule into RunMetrics."""
    if not tripinfo.is_file():
        raise SimulationError(f"{scenario.name}: SUMO wrote no tripinfo output")
    classes = vehicle_classes(scenario, scenario.additional_files)
    schedule = _schedule(scenario, classes)  # and the route files' vTypes, on one pass over them
    delays: list[float] = []
    stops: list[float] = []
    vclass: list[str] = []
    inserted: set[str] = set()
    arrived = unfinished = 0
    co2_mg = fuel_ml = 0.0
    with_emissions = False
    person_delays: list[float] = []
    walk_loss = 0.0
    for _, elem in ET.iterparse(tripinfo, events=("end",)):
        if elem.tag == "emissions":
            with_emissions = True
            co2_mg += float(elem.get("CO2_abs", 0))
            fuel_ml += float(elem.get("fuel_abs", 0))
            continue
        if elem.tag == "walk":
            walk_loss += max(float(elem.get("timeLoss", 0)), 0.0)
            continue
        if elem.tag == "personinfo":
            person_delays.append(walk_loss)
            walk_loss = 0.0
            elem.clear()
            continue
        if elem.tag != "tripinfo":
            continue
        if float(elem.get("depart", "-1")) < 0:
            elem.clear()
            continue  # written but never inserted: charged below from the schedule
        inserted.add(elem.get("id", ""))
        delays.append(float(elem.get("timeLoss", 0)) + float(elem.get("departDelay", 0)))
        stops.append(float(elem.get("waitingCount", 0)))
        vclass.append(classes.get(elem.get("vType", ""), "passenger"))
        if float(elem.get("arrival", "-1")) >= 0:
            arrived += 1
        else:
            unfinished += 1
        elem.clear()
    never = [(scenario.end_s - depart, classes.get(vtype, "passenger"))
             for vid, (depart, vtype) in schedule.items() if vid not in inserted]
    all_delays = delays + [d for d, _ in never]
    all_stops = stops + [0.0] * len(never)
    all_classes = vclass + [c for _, c in never]
    n = len(all_delays)
    by_vclass = {
        name: ClassMetrics(round(float(np.mean([d for d, c in zip(all_delays, all_classes) if c == name])), 3),
                           all_classes.count(name),
                           round(float(np.mean([st for st, c in zip(all_stops, all_classes) if c == name])), 4))
        for name in sorted(set(all_classes))
    }
    if person_delays:
        by_vclass["pedestrian"] = ClassMetrics(round(float(np.mean(person_delays)), 3), len(person_delays), 0.0,
                                               longest_person_wait_s)
    return RunMetrics(
        delay_s_per_vehicle=round(float(np.mean(all_delays)), 3) if n else 0.0,
        throughput_veh=arrived,
        stops_per_vehicle=round(float(np.sum(stops) / n), 4) if n else 0.0,
        vehicles=n,
        unfinished=unfinished,
        never_inserted=len(never),
        intersections=intersections,
        co2_g_per_vehicle=round(co2_mg / 1000 / n, 2) if with_emissions and n else None,
        fuel_ml_per_vehicle=round(fuel_ml / n, 2) if with_emissions and n else None,
        by_vclass=by_vclass,
    )


HEADLINE = ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle", "vehicles", "unfinished", "never_inserted")
EMISSIONS = ("co2_g_per_vehicle", "fuel_ml_per_vehicle")


def summarize(runs: list[RunMetrics], seeds: list[int]) -> dict:
    """Means over seeds at the top level, per-seed values and per-intersection detail below.

    The top-level keys are ``HEADLINE`` and ``EMISSIONS`` (means over seeds; an emission is
    None when a run did not measure it), ``seeds``, ``per_seed`` (each
    run's full metrics), ``intersections`` (per tls: delay and queues averaged over seeds) and
    ``by_vclass`` (per class: delay and stops averaged over the seeds that had the class,
    vehicles over all seeds).
    """
    if not runs:
        raise ValueError("summarize needs at least one run")
    out: dict = {key: round(float(np.mean([getattr(r, key) for r in runs])), 3) for key in HEADLINE}
    for key in EMISSIONS:
        values = [getattr(r, key) for r in runs]
        out[key] = None if None in values else round(float(np.mean(values)), 2)
    out["delay_s_per_vehicle_std"] = round(float(np.std([r.delay_s_per_vehicle for r in runs])), 3)
    out["seeds"] = list(seeds)
    intersections: dict[str, dict] = {}
    for tls_id in runs[0].intersections:
        per_run = [r.intersections[tls_id] for r in runs if tls_id in r.intersections]
        intersections[tls_id] = {
            "delay_s_per_vehicle": round(float(np.mean([m.delay_s_per_vehicle for m in per_run])), 3),
            "vehicles": round(float(np.mean([m.vehicles for m in per_run])), 1),
            "approaches": {
                approach: {
                    "mean_queue_veh": round(float(np.mean([m.approaches[approach].mean_queue_veh for m in per_run])), 3),
                    "max_queue_veh": float(np.max([m.approaches[approach].max_queue_veh for m in per_run])),
                }
                for approach in per_run[0].approaches
            },
        }
    out["intersections"] = intersections
    out["by_vclass"] = {
        name: {
            "delay_s_per_vehicle": round(float(np.mean([r.by_vclass[name].delay_s_per_vehicle for r in runs
                                                         if name in r.by_vclass])), 3),
            "vehicles": round(float(np.mean([r.by_vclass[name].vehicles if name in r.by_vclass else 0 for r in runs])), 1),
            "stops_per_vehicle": round(float(np.mean([r.by_vclass[name].stops_per_vehicle for r in runs
                                                       if name in r.by_vclass])), 4),
            **({"longest_wait_s": max(waits)} if (waits := [r.by_vclass[name].longest_wait_s for r in runs
                                                            if name in r.by_vclass
                                                            and r.by_vclass[name].longest_wait_s is not None]) else {}),
        }
        for name in sorted({name for r in runs for name in r.by_vclass})
    }
    out["per_seed"] = [{"seed": s, **r.to_dict()} for s, r in zip(seeds, runs)]
    return out

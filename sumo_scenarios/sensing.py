"""Virtual cameras in a SUMO run: what a real approach camera would see, with its errors.

One camera per approach (incoming edge) of every traffic light. It sees only vehicles within
``view_m`` of the stop line (default 100 m, per approach configurable), following the
approach upstream through unsignalised nodes (the split where a left-turn bay begins, a
merge along the straight road), and reports a :class:`counting.camera_frame.CameraFrame`
per step: stop-line crossings per lane with class and movement (the turn is visible just
past the stop line), vehicles present and stopped per lane, the distance to the back of the
farthest stopped vehicle, and from the tracks' positions and speeds the time until the next
moving vehicle reaches the stop line and whether the lane's first vehicle stands at it.

Closed-loop controllers read *only* these frames; this module is the one place that looks
at SUMO's vehicle state on their behalf (it *is* the camera). Two more sensors live here:
the priority receivers (:class:`PriorityReceivers`: emergency vehicles, buses) and the
cameras on the ends of pedestrian crossings (:class:`PedestrianCameras`: persons waiting
to cross, and how long).

Detection errors (:class:`CameraNoise`), all seeded and reproducible:

* **miss**: a vehicle the camera never detects during its whole pass (decided once per
  camera and vehicle id by a hash of ``(seed, camera, vehicle)``, so it is consistent
  across frames, as a real detector misses the same hard-to-see vehicle in every frame);
* **false positive**: phantom crossings and presences, at ``false_positive_rate`` times the
  real ones (Poisson);
* **class confusion**: the reported class is wrong (car <-> truck/bus);
* **fragmentation**: the track breaks and the crossing is counted twice;
* **position noise**: Gaussian error on the distance of each detection from the stop line;
* **queued occlusion**: a stopped vehicle standing behind another stopped vehicle in its lane
  is hidden (not present, not stopped, not the back of the queue) with ``queued_miss_rate``,
  fixed per (seed, camera, vehicle) as a rider hidden behind riders stays hidden;
* **outages**: the camera delivers nothing for a period (``CameraFrame.ok`` False).

"Stopped" is :data:`counting.camera_frame.STOPPED_SPEED_M_S` (0.5 m/s), the threshold the video
pipeline uses, so SUMO and video mean the same by it.

Default noise: the worst of what the vision pipeline measured on the shared intersection clip
against hand labels (``benchmarks/vision_errors.py``, Hanoi, frames 0-383, the pipeline's
defaults), and an assumed level where the clip cannot tell, field by field:

==================  =======  ==========================================================
field               default  measured on the intersection clip
==================  =======  ==========================================================
miss_rate           0.05     1 of 20 stop-line crossings missed (5 %)
fragmentation_rate  0.05     1 of 20 counted twice (an id switch in the standing queue)
false_positive_rate 0.02     no phantom crossing in 20 (too few to say less than the 2 % assumed)
class_confusion     0.03     none, but 19 of the 20 are motorcycles: not measurable, assumed
position_noise_m    1.0      stop-line position error median 0.12 m, max 3.9 m
queued_miss_rate    0.22     vehicles standing at red missed: 0/14, 6/27, 5/28 (worst 22 %);
                             with counting.queue_memory none (one too many at each);
                             kept at 0.22: the memory runs only in the dense-traffic
                             setting, and 0 does not help the controller (cologne1
                             seeds 1-3: 19.5 s/veh against 18.7)
==================  =======  ==========================================================

The free-flow clips are counted exactly and set none of these.

Example::

    cameras = CameraNetwork(sim.conn, sim.intersections, view_m=100.0, noise=CameraNoise(), seed=1)
    estimator = DemandEstimator(cameras.layouts.values(), rates=cameras.noise.detection_rates())
    each step:  for frame in cameras.observe(sim.time_s).values(): estimator.update(frame)
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from counting.camera_frame import BOX_CRAWL_M_S, STOPPED_SPEED_M_S, CameraFrame, CameraLayout, PedestrianCall, PriorityCall
from counting.estimator import DetectionRates
from optimizer.intersection import GREEN_CHARS, IntersectionModel
from phasewise_errors import ConfigError

CAR, BUS, TRUCK, MOTORCYCLE = 2, 5, 7, 3
_VCLASS_TO_COCO = {"passenger": CAR, "truck": TRUCK, "trailer": TRUCK, "delivery": TRUCK,
                   "bus": BUS, "coach": BUS, "motorcycle": MOTORCYCLE, "moped": MOTORCYCLE}
HEAD_AT_LINE_M = 8.0  # a stopped vehicle this close to the stop line is the lane's head


@dataclass(frozen=True)
class Outage:
    """Camera ``camera_id`` (an approach edge id) delivers nothing from ``start_s`` to ``end_s``."""

    camera_id: str
    start_s: float
    end_s: float

    def covers(self, time_s: float) -> bool:
        return self.start_s <= time_s < self.end_s


@dataclass(frozen=True)
class CameraNoise:
    """Detection error model of every camera (rates are fractions of real vehicles).

    Defaults: measured on the shared intersection clip where measurable, see the module docstring.
    """

    miss_rate: float = 0.05
    false_positive_rate: float = 0.02
    class_confusion: float = 0.03
    fragmentation_rate: float = 0.05
    position_noise_m: float = 1.0
    outages: tuple[Outage, ...] = field(default_factory=tuple)
    queued_miss_rate: float = 0.22

    def __post_init__(self) -> None:
        for name in ("miss_rate", "false_positive_rate", "class_confusion", "fragmentation_rate", "queued_miss_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"CameraNoise.{name} must be in [0, 1), got {value}")
        if self.position_noise_m < 0.0:
            raise ConfigError(f"CameraNoise.position_noise_m must be >= 0, got {self.position_noise_m}")

    @classmethod
    def perfect(cls) -> CameraNoise:
        """No errors at all: the camera reports the truth within its view."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, queued_miss_rate=0.0)

    def detection_rates(self) -> DetectionRates:
        """The count biases the estimator should correct for (it never sees the outages)."""
        return DetectionRates(self.miss_rate, self.false_positive_rate, self.fragmentation_rate)

    def in_outage(self, camera_id: str, time_s: float) -> bool:
        return any(o.camera_id == camera_id and o.covers(time_s) for o in self.outages)


@dataclass
class ViewLane:
    """A SUMO lane inside a camera's view and the stop-line lane it is reported as."""

    lane_id: str
    stop_lane: int  # index into the camera's lanes
    length_m: float
    offset_m: float  # distance from this lane's downstream end to the stop line


def approach_lanes(conn: ModuleType, approach: str, stop_lanes: list[str], view_m: float) -> list[ViewLane]:
    """Stop-line lanes, then upstream lanes while the view reaches past an unsignalised node.

    A camera at the stop line looks up the road, so upstream the view follows the approach
    through nodes that are not signalised: through a node with a single incoming edge (e.g.
    the split where a left-turn bay begins) whatever its turn, and through a merge along the
    edges that continue straight into the approach (a side street joining at an angle leaves
    the view). The reverse direction is never followed. An upstream lane is reported as the
    stop-line lane it leads to.
    """
    lane_api, edge_api = conn.lane, conn.edge
    tls_nodes = set(conn.trafficlight.getIDList())
    view = [ViewLane(lane, k, lane_api.getLength(lane), 0.0) for k, lane in enumerate(stop_lanes)]
    seen = set(stop_lanes)
    current = {lane: k for k, lane in enumerate(stop_lanes)}  # lane id -> stop-line lane
    edge, offset = approach, min(lane_api.getLength(lane) for lane in stop_lanes)
    while offset < view_m:
        node = edge_api.getFromJunction(edge)
        if node in tls_nodes:
            break
        into = [e for e in conn.junction.getIncomingEdges(node)
                if not e.startswith(":") and edge_api.getFromJunction(e) != edge_api.getToJunction(edge)]
        links = {e: [(f"{e}_{i}", target, direction)
                     for i in range(edge_api.getLaneNumber(e))
                     for target, *_, direction, _length in lane_api.getLinks(f"{e}_{i}") if target in current]
                 for e in into}
        if len(into) > 1:
            into = [e for e in into if any(direction == "s" for *_, direction in links[e])]
        if len(into) != 1:
            break
        mapped: dict[str, int] = {}
        for up_lane, target, _direction in links[into[0]]:
            if up_lane not in seen and (up_lane not in mapped or target.rsplit("_", 1)[1] == up_lane.rsplit("_", 1)[1]):
                mapped[up_lane] = current[target]  # the same lane index wins
        if not mapped:
            break
        seen.update(mapped)
        view.extend(ViewLane(lane, k, lane_api.getLength(lane), offset) for lane, k in mapped.items())
        current, edge, offset = mapped, into[0], offset + min(lane_api.getLength(lane) for lane in mapped)
    return view


@dataclass
class _Camera:
    layout: CameraLayout
    tls_id: str
    approach: str
    view_lanes: list[ViewLane]
    stop_lanes: list[str]
    lane_links: list[list[int]]  # tls link indices of each stop-line lane
    movement_of_edge: dict[str, int]
    view_m: float
    box_lanes: frozenset[str]  # the junction's internal lanes reached from the stop lines
    prev_in_view: dict[str, int] = field(default_factory=dict)  # vid -> stop-line lane
    in_box: dict[str, int] = field(default_factory=dict)  # crossed, still in the junction
    draw: dict[str, tuple[bool, bool, bool, bool]] = field(default_factory=dict)  # missed, fragmented, confused, hidden when queued


class CameraNetwork:
    """One virtual camera per approach of every traffic light; ``observe`` once per step.

    ``view_m`` is one field of view for all cameras or a mapping camera id (approach edge)
    -> metres (missing ids take 100 m). ``layouts`` describes every camera for the
    estimator. Cost: a few SUMO getter calls per vehicle in view per step.
    """

    def __init__(
        self,
        conn: ModuleType,
        intersections: Mapping[str, IntersectionModel],
        view_m: float | Mapping[str, float] = 100.0,
        noise: CameraNoise = CameraNoise(),
        seed: int = 0,
    ) -> None:
        self._conn = conn
        self.noise = noise
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._cameras: list[_Camera] = []
        for model in intersections.values():
            for approach in model.approaches:
                view = view_m.get(approach, 100.0) if isinstance(view_m, Mapping) else float(view_m)
                if view <= 0.0:
                    raise ConfigError(f"camera {approach}: view_m must be positive, got {view}")
                self._cameras.append(self._build_camera(model, approach, view))
        self._class: dict[str, tuple[int, float]] = {}  # vid -> (COCO class, length m)

    @property
    def layouts(self) -> dict[str, CameraLayout]:
        return {cam.layout.camera_id: cam.layout for cam in self._cameras}

    @property
    def intersection_of(self) -> dict[str, str]:
        """Camera id -> the traffic light whose approach it watches."""
        return {cam.layout.camera_id: cam.tls_id for cam in self._cameras}

    # -- set-up ---------------------------------------------------------------------------
    def _build_camera(self, model: IntersectionModel, approach: str, view_m: float) -> _Camera:
        links = [link for link in model.links if link.approach == approach]
        stop_lanes = list(dict.fromkeys(link.from_lane for link in links))
        movements = [m for m in model.movements if m.approach == approach]
        serves = tuple(tuple(lane in m.from_lanes for m in movements) for lane in stop_lanes)
        layout = CameraLayout(approach, tuple(stop_lanes), tuple(m.id for m in movements), serves, view_m)
        movement_of_edge = {edge: k for k, m in enumerate(movements) for edge in m.to_edges}
        lane_links = [[link.index for link in links if link.from_lane == lane] for lane in stop_lanes]
        return _Camera(layout, model.tls_id, approach, approach_lanes(self._conn, approach, stop_lanes, view_m),
                       stop_lanes, lane_links, movement_of_edge, view_m, self._box_lanes(stop_lanes))

    def _box_lanes(self, stop_lanes: list[str]) -> frozenset[str]:
        """Internal lanes of the junction that vehicles from ``stop_lanes`` drive through."""
        lane_api = self._conn.lane
        box: set[str] = set()
        todo = [link[4] for lane in stop_lanes for link in lane_api.getLinks(lane) if link[4]]
        while todo:
            lane = todo.pop()
            if lane in box or not lane.startswith(":"):
                continue
            box.add(lane)
            for link in lane_api.getLinks(lane):
                todo += [t for t in (link[0], link[4]) if t and t.startswith(":")]
        return frozenset(box)

    # -- per step -------------------------------------------------------------------------
    def observe(self, time_s: float) -> dict[str, CameraFrame]:
        """Every camera's frame for the step that just ended (call once per step)."""
        sim = self._conn.simulation
        gone = set(sim.getArrivedIDList()) | set(sim.getStartingTeleportIDList())
        states = {cam.tls_id: "" for cam in self._cameras}
        for tls_id in states:
            states[tls_id] = self._conn.trafficlight.getRedYellowGreenState(tls_id)
        return {cam.layout.camera_id: self._observe(cam, time_s, gone, states[cam.tls_id])
                for cam in self._cameras}

    def _observe(self, cam: _Camera, time_s: float, gone: set[str], state: str) -> CameraFrame:
        vehicle = self._conn.vehicle
        n_lanes = len(cam.stop_lanes)
        view_lane: list[int] = []
        dist_m: list[float] = []
        speed_m_s: list[float] = []
        vids: list[str] = []
        on_stop_lanes: set[str] = set()
        in_view: dict[str, int] = {}
        for vl in cam.view_lanes:
            ids = self._conn.lane.getLastStepVehicleIDs(vl.lane_id)
            if vl.offset_m == 0.0:
                on_stop_lanes.update(ids)
            for vid in ids:
                dist = vl.offset_m + vl.length_m - vehicle.getLanePosition(vid)
                if dist > cam.view_m:
                    continue
                vids.append(vid)
                view_lane.append(vl.stop_lane)
                dist_m.append(dist)
                speed_m_s.append(vehicle.getSpeed(vid))
                if vl.offset_m == 0.0:
                    in_view[vid] = vl.stop_lane
        crossed = [(vid, lane) for vid, lane in cam.prev_in_view.items()
                   if vid not in on_stop_lanes and vid not in gone]
        cam.prev_in_view = in_view
        if self.noise.in_outage(cam.layout.camera_id, time_s):
            for vid, _ in crossed:
                cam.draw.pop(vid, None)
            return CameraFrame.empty(cam.layout, time_s, ok=False)

        green = np.array([any(state[i] in GREEN_CHARS for i in idx if i < len(state)) for idx in cam.lane_links])
        detected = np.array([not self._draw(cam, vid)[0] for vid in vids], dtype=bool)
        speeds_all = np.asarray(speed_m_s, dtype=np.float64)
        dist_all = np.asarray(dist_m, dtype=np.float64)
        lanes_all = np.asarray(view_lane, dtype=np.int64)
        if self.noise.queued_miss_rate > 0.0 and detected.any():
            detected &= ~self._occluded(cam, vids, lanes_all, dist_all, speeds_all < STOPPED_SPEED_M_S, detected)
        lanes = lanes_all[detected]
        speeds = speeds_all[detected]
        stopped_mask = speeds < STOPPED_SPEED_M_S
        lengths = np.array([self._vehicle(v)[1] for v, d in zip(vids, detected) if d], dtype=np.float64)
        # one position error per detection: a box's front and back move together
        front_m = dist_all[detected]
        if self.noise.position_noise_m > 0.0 and front_m.size:
            front_m = front_m + self._rng.normal(0.0, self.noise.position_noise_m, front_m.size)
        back_m = front_m + lengths
        present = np.bincount(lanes, minlength=n_lanes).astype(np.int64)
        stopped = np.bincount(lanes[stopped_mask], minlength=n_lanes).astype(np.int64)
        queue_m = np.zeros(n_lanes)
        if stopped_mask.any():
            np.maximum.at(queue_m, lanes[stopped_mask], np.clip(back_m[stopped_mask], 0.0, cam.view_m))
        arrival_s, head_stopped = _track_features(lanes, front_m, speeds, stopped_mask, n_lanes)
        present += self._phantoms(present)
        cross_lane, cross_move, cross_class = self._crossings(cam, crossed)
        return CameraFrame(time_s, cam.layout.camera_id, True, present, stopped, queue_m, green,
                           cross_lane, cross_move, cross_class, arrival_s, head_stopped,
                           self._stopped_in_junction(cam, gone))

    def _occluded(self, cam: _Camera, vids: list[str], lanes: np.ndarray, dist_m: np.ndarray,
                  stopped: np.ndarray, detected: np.ndarray) -> np.ndarray:
        """Stopped, detected vehicles hidden behind a stopped vehicle nearer the stop line in
        their lane, each with ``queued_miss_rate`` (fixed per seed, camera and vehicle)."""
        queued = stopped & detected
        first_m = np.full(len(cam.stop_lanes), np.inf)
        np.minimum.at(first_m, lanes[queued], dist_m[queued])
        behind = queued & (dist_m > first_m[lanes])
        hidden = np.zeros(len(vids), dtype=bool)
        for i in np.flatnonzero(behind):
            hidden[i] = self._draw(cam, vids[i])[3]
        return hidden

    def _stopped_in_junction(self, cam: _Camera, gone: set[str]) -> np.ndarray:
        """Per lane, the detected vehicles that crossed its stop line and now stand (or crawl)
        inside the junction box: a turn waiting for a gap, or a vehicle blocked there."""
        vehicle = self._conn.vehicle
        stopped = np.zeros(len(cam.stop_lanes), dtype=np.int64)
        for vid, lane in list(cam.in_box.items()):
            try:
                inside = vid not in gone and vehicle.getLaneID(vid) in cam.box_lanes
                if inside and vehicle.getSpeed(vid) < BOX_CRAWL_M_S:
                    stopped[lane] += 1
            except self._conn.TraCIException:
                inside = False
            if not inside:
                del cam.in_box[vid]
        return stopped

    def _crossings(self, cam: _Camera, crossed: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lanes: list[int] = []
        moves: list[int] = []
        classes: list[int] = []
        per_lane = np.zeros(len(cam.stop_lanes), dtype=np.int64)
        for vid, lane in crossed:
            missed, fragmented, confused, _ = cam.draw.pop(vid, None) or self._draws(cam, vid)
            move = self._movement(cam, vid, lane)
            per_lane[lane] += 1
            if missed:
                continue
            cam.in_box[vid] = lane
            if move < 0:
                continue
            cls = self._vehicle(vid)[0]
            if confused:
                cls = CAR if cls != CAR else TRUCK
            copies = 2 if fragmented else 1
            lanes += [lane] * copies
            moves += [move] * copies
            classes += [cls] * copies
        phantoms = self._phantoms(per_lane)
        for lane in np.flatnonzero(phantoms):
            for _ in range(int(phantoms[lane])):
                options = np.flatnonzero(cam.layout.serves[lane])
                lanes.append(int(lane))
                moves.append(int(self._rng.choice(options)))
                classes.append(CAR)
        return (np.asarray(lanes, dtype=np.int64), np.asarray(moves, dtype=np.int64),
                np.asarray(classes, dtype=np.int64))

    def _phantoms(self, real: np.ndarray) -> np.ndarray:
        """False positives per lane: Poisson with mean ``false_positive_rate`` x real count."""
        if self.noise.false_positive_rate <= 0.0:
            return np.zeros(real.size, dtype=np.int64)
        return self._rng.poisson(self.noise.false_positive_rate * real).astype(np.int64)

    def _movement(self, cam: _Camera, vid: str, lane: int) -> int:
        """Movement index from the edge the vehicle takes after the approach (-1 if unknown)."""
        try:
            route = self._conn.vehicle.getRoute(vid)
            nxt = route[route.index(cam.approach) + 1]
        except (ValueError, IndexError, self._conn.TraCIException):
            return -1
        return cam.movement_of_edge.get(nxt, -1)

    def _draw(self, cam: _Camera, vid: str) -> tuple[bool, bool, bool, bool]:
        draw = cam.draw.get(vid)
        if draw is None:
            draw = cam.draw[vid] = self._draws(cam, vid)
        return draw

    def _draws(self, cam: _Camera, vid: str) -> tuple[bool, bool, bool, bool]:
        """(missed, fragmented, class confused, hidden when queued): fixed per (seed, camera, vehicle)."""
        def uniform(salt: str) -> float:
            return zlib.crc32(f"{self.seed}|{salt}|{cam.layout.camera_id}|{vid}".encode()) / 2**32

        return (uniform("miss") < self.noise.miss_rate,
                uniform("fragment") < self.noise.fragmentation_rate,
                uniform("class") < self.noise.class_confusion,
                uniform("occluded") < self.noise.queued_miss_rate)

    def _vehicle(self, vid: str) -> tuple[int, float]:
        known = self._class.get(vid)
        if known is None:
            vehicle = self._conn.vehicle
            known = (_VCLASS_TO_COCO.get(vehicle.getVehicleClass(vid), CAR), vehicle.getLength(vid))
            self._class[vid] = known
        return known


class PriorityReceivers:
    """Priority receivers on every approach of every traffic light: the stand-in for the
    optical or radio emitters that emergency vehicles (and buses) carry.

    A vehicle of one of ``classes`` (SUMO vClass) is heard within ``range_m`` of the stop
    line along the approach (upstream as the cameras follow it, :func:`approach_lanes`), on
    the stop-line lane its lane leads to, until it crosses the line; the receiver has no
    detection errors. A vehicle standing at a scheduled stop (a bus at its stop), or with its
    next scheduled stop still ahead on the approach, is not heard: its emitter checks in once
    it has left the stop, as transit priority places its check-in past a near-side stop, so
    a dwell is never mistaken for an arrival. ``observe`` once per step. Cost: one getter per
    departing vehicle, and up to four per step and vehicle of those classes in the network.
    """

    def __init__(self, conn: ModuleType, intersections: Mapping[str, IntersectionModel], range_m: float = 300.0,
                 classes: tuple[str, ...] = ("emergency",)) -> None:
        self._conn = conn
        self.classes = frozenset(classes)
        # SUMO lane -> (tls, approach, stop-line lane index, offset to the stop line) per receiver
        self._lanes: dict[str, list[tuple[str, str, int, float, float]]] = {}
        # (tls, approach) -> {SUMO lane: distance from its start to the stop line}
        self._approach: dict[tuple[str, str], dict[str, float]] = {}
        for model in intersections.values():
            for approach in model.approaches:
                stop_lanes = list(dict.fromkeys(link.from_lane for link in model.links if link.approach == approach))
                for vl in approach_lanes(conn, approach, stop_lanes, range_m):
                    self._lanes.setdefault(vl.lane_id, []).append(
                        (model.tls_id, approach, vl.stop_lane, vl.offset_m + vl.length_m, range_m))
                    self._approach.setdefault((model.tls_id, approach), {})[vl.lane_id] = vl.offset_m + vl.length_m
        vehicle = conn.vehicle
        self._active: dict[str, str] = {}  # vehicle id -> its class, for the vehicles of ``classes`` in the network
        for vid in vehicle.getIDList():
            self._hear(vid)

    def _hear(self, vid: str) -> None:
        vclass = self._conn.vehicle.getVehicleClass(vid)
        if vclass in self.classes:
            self._active[vid] = vclass

    def observe(self) -> list[PriorityCall]:
        """This step's calls: one per receiver that hears a vehicle of ``classes``."""
        sim, vehicle = self._conn.simulation, self._conn.vehicle
        for vid in sim.getDepartedIDList():
            self._hear(vid)
        if not self._active:
            return []
        for vid in sim.getArrivedIDList():
            self._active.pop(vid, None)
        calls = []
        for vid in sorted(self._active):
            lane = vehicle.getLaneID(vid)
            receivers = self._lanes.get(lane, ())
            if not receivers:
                continue
            if vehicle.isStopped(vid):
                continue
            next_stop = vehicle.getStops(vid, 1)
            for tls, approach, stop_lane, end_m, range_m in receivers:
                distance = end_m - vehicle.getLanePosition(vid)
                if distance <= range_m and not self._stop_ahead(next_stop, tls, approach, distance):
                    calls.append(PriorityCall(tls, approach, stop_lane, distance, self._active[vid], vid))
        return calls

    def _stop_ahead(self, next_stop: tuple, tls: str, approach: str, distance_m: float) -> bool:
        """Whether the vehicle's next scheduled stop lies between it and this stop line."""
        if not next_stop:
            return False
        stop = next_stop[0]
        end_m = self._approach[(tls, approach)].get(stop.lane)
        return end_m is not None and end_m - stop.endPos < distance_m


class PedestrianCameras:
    """Cameras on the ends of every signalised crossing: who waits to cross, and how long.

    A person is seen waiting at a crossing while it stands (SUMO's waiting time above zero)
    on a walking area at one of the crossing's ends (:attr:`Crossing.waiting_areas`) with
    that crossing next on its way; a person who stands there is in any camera's view of the
    junction corners, so the view needs no range. No detection errors. ``observe`` once per
    step; cost: one getter per walking area and two per person on one.
    """

    def __init__(self, conn: ModuleType, intersections: Mapping[str, IntersectionModel]) -> None:
        self._conn = conn
        self._areas: dict[str, dict[str, tuple[str, int]]] = {}  # walking area -> crossing edge -> (tls, index)
        for model in intersections.values():
            for crossing in model.crossings:
                for area in crossing.waiting_areas:
                    self._areas.setdefault(area, {})[crossing.edge] = (model.tls_id, crossing.index)

    def observe(self) -> list[PedestrianCall]:
        """This step's calls: one per crossing with persons waiting, in a fixed order."""
        edge, person = self._conn.edge, self._conn.person
        waiting: dict[tuple[str, int], list[float]] = {}
        for area, crossings in self._areas.items():
            for pid in edge.getLastStepPersonIDs(area):
                target = crossings.get(person.getNextEdge(pid))
                if target is None:
                    continue
                wait_s = person.getWaitingTime(pid)
                if wait_s > 0:
                    waiting.setdefault(target, []).append(wait_s)
        return [PedestrianCall(tls, index, len(waits), max(waits)) for (tls, index), waits in sorted(waiting.items())]


def _track_features(lanes: np.ndarray, front_m: np.ndarray, speed_m_s: np.ndarray, stopped: np.ndarray,
                    n_lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lane: seconds until the nearest moving vehicle reaches the stop line (``inf`` if
    none moves) and whether the lane's first vehicle stands at the stop line."""
    arrival_s = np.full(n_lanes, np.inf)
    moving = ~stopped
    np.minimum.at(arrival_s, lanes[moving], np.maximum(front_m[moving], 0.0) / np.maximum(speed_m_s[moving], 0.1))
    first_m = np.full(n_lanes, np.inf)
    np.minimum.at(first_m, lanes, front_m)
    first_stopped_m = np.full(n_lanes, np.inf)
    np.minimum.at(first_stopped_m, lanes[stopped], front_m[stopped])
    head_stopped = (first_stopped_m <= first_m) & (first_stopped_m < HEAD_AT_LINE_M)
    return arrival_s, head_stopped

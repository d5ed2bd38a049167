"""Camera frames from real video: the vision pipeline as a camera source for the estimator.

The SUMO virtual camera (``sumo_scenarios.sensing``) and this module emit the same value
type, :class:`~counting.camera_frame.CameraFrame`, with the same meaning, so the demand
estimator and the adaptive policy cannot tell video from simulation:

* ``crossing_*``: vehicles (car, motorcycle, bus, truck) crossing a lane's stop line, with
  class and turn; the turn is the exit line the vehicle crosses next, else its heading
  ``movement_wait_s`` after the line (left/right beyond ``turn_angle_deg`` from the lane's
  direction), so a crossing is reported when its turn is known (up to that wait later);
* ``present``, ``stopped``, ``queue_m``: the lane zones (:mod:`counting.lane_zone`; stopped
  is below ``STOPPED_SPEED_M_S`` over a 2 s window; ``queue_m`` from the homography);
* ``arrival_s``: distance to the stop line over speed of the nearest moving vehicle;
* ``head_stopped``: the lane's first vehicle stands within ``HEAD_AT_LINE_M`` of the line;
* ``stopped_in_junction``: counted vehicles inside the site's junction polygon slower than
  ``counting.camera_frame.BOX_CRAWL_M_S`` (as the virtual camera);
* ``green``: the lane's signal head read from the pixels (:mod:`vision.signal_head`),
  when the site has one; False otherwise;
* ``pedestrians``: persons waiting in the site's crosswalks' waiting areas
  (:mod:`counting.crosswalk`), one :class:`~counting.camera_frame.PedestrianCall` per
  crossing with someone waiting, on the frame of the site's first approach (the stream's
  calls once); only crosswalks given in ``crossings`` (name -> the network's intersection
  and crossing signal index) call: without a network (``phasewise replay``) none do.

One :class:`CameraLayout` per approach of the site (camera id = approach name, the name the
optimizer's ``IntersectionModel`` uses); its movements are ``"<approach>:<turn>"``.

Two stages, as everywhere (one verb each)::

    builder = CameraFrameBuilder(site)                  # tracks in, frames out
    frames = builder.update(tracks, t_s, lights)        # dict camera -> CameraFrame, or {}

    source = VideoCameraSource(VideoFile(path), detector, site)   # decode -> ... -> frames
    for frames in source:                               # one dict per step_s of video
        estimator.update(frames["northbound"])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from calibration.geometry import points_in_polygon, point_segment_distance
from calibration.site import TURNS, LaneConfig, SiteConfig
from counting.camera_frame import BOX_CRAWL_M_S, CameraFrame, CameraLayout, PedestrianCall
from counting.counter import SiteCounter
from counting.crosswalk import CrosswalkWait, CrosswalkWaits
from counting.events import Crossing, CountedMovement, QueueSample
from counting.queue_memory import QueueMemory
from vision.detections import Detections
from vision.detector import Detector
from vision.riders import fuse_riders
from vision.signal_head import SignalColour, SignalHeadReader, SignalInterval
from vision.tracker import DENSE_TRAFFIC, ByteTracker
from vision.video import Frame
from vision.zoom import RegionDetector

THUMBNAIL_WIDTH_PX = 480  # the dashboard's camera thumbnail

HEAD_AT_LINE_M = 8.0  # as the virtual camera: a stopped vehicle this close to the line is the head


def approach_layouts(site: SiteConfig) -> dict[str, CameraLayout]:
    """One layout per approach: its lanes in site order, its movements ``approach:turn``."""
    layouts = {}
    for approach in dict.fromkeys(lane.approach for lane in site.lanes):
        lanes = [lane for lane in site.lanes if lane.approach == approach]
        turns = [t for t in TURNS if any(t in lane.movements for lane in lanes)]
        layouts[approach] = CameraLayout(
            camera_id=approach,
            lanes=tuple(lane.id for lane in lanes),
            movements=tuple(f"{approach}:{t}" for t in turns),
            lane_movements=tuple(tuple(t in lane.movements for t in turns) for lane in lanes),
            view_m=tuple(_view_m(site, lane) for lane in lanes),
            min_spacing_m=site.min_spacing_m,
        )
    return layouts


def _view_m(site: SiteConfig, lane: LaneConfig) -> float:
    """Farthest ground distance from the stop line within the lane polygon (100 m without homography)."""
    h = site.ground()
    if h is None:
        return 100.0
    a, b = h.to_ground(np.asarray(lane.stop_line))
    return float(point_segment_distance(h.to_ground(np.asarray(lane.polygon)), a, b).max())


def heading_turn(direction: npt.ArrayLike, displacement: npt.ArrayLike, turn_angle_deg: float = 30.0) -> str:
    """``left``/``through``/``right``/``uturn`` from the image displacement after the stop line.

    The image of the road seen from above is not mirrored, so a turn to the driver's left is
    a counter-clockwise turn in the image (negative cross product with y pointing down).
    """
    d = np.asarray(direction, dtype=float)
    v = np.asarray(displacement, dtype=float)
    angle = np.degrees(np.arctan2(d[0] * v[1] - d[1] * v[0], d @ v))
    if abs(angle) <= turn_angle_deg:
        return "through"
    if abs(angle) >= 150.0:
        return "uturn"
    return "left" if angle < 0 else "right"


@dataclass
class _Pending:
    crossing: Crossing
    anchor: npt.NDArray[np.float64]


class CameraFrameBuilder:
    """``update(tracks, t_s, lights) -> {camera_id: CameraFrame}`` every ``step_s`` of video.

    ``lights`` maps signal-head id to its colour at ``t_s`` (empty when the site reads none).
    Everything counted is also kept for the replay's files: ``counter`` (crossings, turns),
    ``movements`` (every counted vehicle with its turn) and ``queue_samples``.
    """

    def __init__(self, site: SiteConfig, *, step_s: float = 1.0, movement_wait_s: float = 3.0,
                 turn_angle_deg: float = 30.0, crossings: Mapping[str, tuple[str, int]] | None = None) -> None:
        self.site = site
        self.crossings = dict(crossings or {})
        calling = [c for c in site.crosswalks if c.crossing in self.crossings]
        self.crosswalk_waits = CrosswalkWaits(calling) if calling else None
        self.waits: tuple[CrosswalkWait, ...] = ()  # the crosswalks' last report
        self.step_s = step_s
        self.movement_wait_s = movement_wait_s
        self.turn_angle_deg = turn_angle_deg
        self.layouts = approach_layouts(site)
        self.counter = SiteCounter(site)
        self.movements: list[CountedMovement] = []
        self.queue_samples: list[QueueSample] = []
        self._lane = {lane.id: lane for lane in site.lanes}
        self._lane_index = {lane: k for lay in self.layouts.values() for k, lane in enumerate(lay.lanes)}
        self._pending: dict[int, _Pending] = {}
        self._last_anchor: dict[int, tuple[float, npt.NDArray[np.float64]]] = {}
        self._step_movements: list[CountedMovement] = []
        self._next_emit_s: float | None = None
        self.census_mode = False  # set by a source that gives a census every step
        self.queue_memory: QueueMemory | None = None  # keeps hidden standing vehicles in the census

    def due(self, t_s: float) -> bool:
        """Will ``update`` at ``t_s`` end a step (and emit frames)? The time for a census."""
        return self._next_emit_s is not None and t_s + 1e-9 >= self._next_emit_s

    def update(self, tracks: Detections, t_s: float, lights: Mapping[str, SignalColour] | None = None,
               census: Detections | None = None) -> dict[str, CameraFrame]:
        """Fold in one processed frame; a dict of frames when a step of ``step_s`` ended, else {}.

        ``census``: a more complete set of detections of this frame (an enlarged pass over the
        queue, :mod:`vision.zoom`), given on the frames that end a step; the frames' present,
        stopped and ``queue_m`` then come from it (``LaneZones.census``), and with
        ``census_mode`` only those samples are kept in ``queue_samples`` (one per step).
        """
        if self.crosswalk_waits is not None:  # persons, before the vehicle classes are picked
            self.waits = self.crosswalk_waits.update(tracks, t_s)
        tracks = tracks.with_classes(self.counter.classes)  # the zones' per-track arrays follow these rows
        counts = self.counter.update(tracks, t_s)
        queues = counts.queues
        if census is not None:
            census = census.with_classes(self.counter.classes)
            if self.queue_memory is not None:
                census = self.queue_memory.update(census, t_s, self.counter.zones.moving_boxes(),
                                                  self._at_red(self.queue_memory.anchors(), lights or {}))
            queues = self.counter.zones.census(census, t_s)
        if census is not None or not self.census_mode:
            self.queue_samples.extend(queues)
        anchors = tracks.anchors().astype(np.float64)
        for i, tid in enumerate(tracks.tracker_id.tolist()):
            self._last_anchor[tid] = (t_s, anchors[i])
        for c in counts.crossings:
            self._pending[c.tracker_id] = _Pending(c, self._last_anchor[c.tracker_id][1])
        for turn in counts.turns:
            if turn.tracker_id in self._pending:
                self._resolve(self._pending.pop(turn.tracker_id), turn.movement, "exit")
        self._resolve_by_heading(t_s)
        if self._next_emit_s is None:
            self._next_emit_s = t_s + self.step_s
        if t_s + 1e-9 < self._next_emit_s:
            return {}
        while self._next_emit_s <= t_s + 1e-9:
            self._next_emit_s += self.step_s
        frames = self._frames(t_s, queues, tracks, lights or {})
        self._step_movements = []
        for tid in [k for k, (seen_s, _) in self._last_anchor.items() if t_s - seen_s > 30.0]:
            if tid not in self._pending:
                del self._last_anchor[tid]  # a live stream runs for days
        return frames

    def flush(self) -> list[CountedMovement]:
        """Resolve every crossing still waiting for its turn (end of video); the new movements."""
        before = len(self.movements)
        for pending in list(self._pending.values()):
            self._resolve_heading(pending)
        self._pending.clear()
        return self.movements[before:]

    # -- turns ------------------------------------------------------------------------------
    def _resolve(self, pending: _Pending, turn: str, how: str) -> None:
        c = pending.crossing
        lane = self._lane[c.lane]
        if turn not in lane.movements and how != "exit":
            turn, how = ("through" if "through" in lane.movements else lane.movements[0]), "lane"
        approach_turns = [m.split(":", 1)[1] for m in self.layouts[lane.approach].movements]
        if turn not in approach_turns:
            turn = "through" if "through" in approach_turns else approach_turns[0]
        m = CountedMovement(c.t_s, c.lane, lane.approach, turn, c.class_id, c.tracker_id, how,
                            (float(pending.anchor[0]), float(pending.anchor[1])))
        self.movements.append(m)
        self._step_movements.append(m)

    def _resolve_heading(self, pending: _Pending) -> None:
        lane = self._lane[pending.crossing.lane]
        _, last = self._last_anchor.get(pending.crossing.tracker_id, (0.0, pending.anchor))
        moved = last - pending.anchor
        if np.hypot(*moved) < 5.0:  # px: too little seen after the line to tell
            turn = "through" if "through" in lane.movements else lane.movements[0]
            self._resolve(pending, turn, "lane")
        else:
            self._resolve(pending, heading_turn(lane.direction, moved, self.turn_angle_deg), "heading")

    def _resolve_by_heading(self, t_s: float) -> None:
        for tid, pending in list(self._pending.items()):
            seen_s = self._last_anchor[tid][0]
            if t_s - pending.crossing.t_s >= self.movement_wait_s or t_s - seen_s > 1.0:
                self._resolve_heading(self._pending.pop(tid))

    # -- frames -----------------------------------------------------------------------------
    def _frames(self, t_s: float, queues: Iterable[QueueSample], tracks: Detections,
                lights: Mapping[str, SignalColour]) -> dict[str, CameraFrame]:
        zones = self.counter.zones
        q = {s.lane: s for s in queues}
        lane_ids = [lane.id for lane in self.site.lanes]
        speed, lane_of, dist = zones.track_speed, zones.track_lane, zones.track_dist_m
        n = len(lane_ids)
        arrival = np.full(n, np.inf)
        first_m = np.full(n, np.inf)
        first_stopped_m = np.full(n, np.inf)
        moving = speed >= zones.stopped_speed   # STOPPED_SPEED_M_S unless overridden
        stopped = speed < zones.stopped_speed
        ok = (lane_of >= 0) & np.isfinite(dist)
        for j in range(n):
            mine = ok & (lane_of == j)
            if (mine & moving).any():
                arrival[j] = float((dist[mine & moving] / np.maximum(speed[mine & moving], 0.1)).min())
            if mine.any():
                first_m[j] = dist[mine].min()
            if (mine & stopped).any():
                first_stopped_m[j] = dist[mine & stopped].min()
        head = (first_stopped_m <= first_m) & (first_stopped_m < HEAD_AT_LINE_M)
        in_box = self._stopped_in_junction(tracks, speed)
        calls = tuple(PedestrianCall(*self.crossings[w.crossing], w.waiting, w.longest_wait_s)
                      for w in self.waits if w.waiting > 0)
        first = next(iter(self.layouts))
        frames = {}
        for cam_id, lay in self.layouts.items():
            idx = [lane_ids.index(lane) for lane in lay.lanes]
            mine = [m for m in self._step_movements if m.approach == cam_id]
            green = np.array([self._green(lane, lights) for lane in lay.lanes], dtype=bool)
            frames[cam_id] = CameraFrame(
                time_s=t_s, camera_id=cam_id, ok=True,
                present=np.array([q[lane].present for lane in lay.lanes], dtype=np.int64),
                stopped=np.array([q[lane].stopped for lane in lay.lanes], dtype=np.int64),
                # as the virtual camera: the queue seen ends at the view's end (a bus may reach past it)
                queue_m=np.minimum([_finite(q[lane].queue_m) for lane in lay.lanes], lay.view_m_per_lane),
                green=green,
                crossing_lane=np.array([self._lane_index[m.lane] for m in mine], dtype=np.int64),
                crossing_movement=np.array([lay.movements.index(f"{cam_id}:{m.turn}") for m in mine], dtype=np.int64),
                crossing_class=np.array([m.class_id for m in mine], dtype=np.int64),
                arrival_s=arrival[idx], head_stopped=head[idx], stopped_in_junction=in_box[idx],
                pedestrians=calls if cam_id == first else (),
            )
        return frames

    def _at_red(self, points: npt.NDArray[np.float64], lights: Mapping[str, SignalColour]) -> npt.NDArray[np.bool_]:
        """Which ``points`` lie in a lane whose signal head shows red (False without a head)."""
        red = np.zeros(len(points), dtype=bool)
        for lane in self.site.lanes:
            head = self.site.head_of(lane.id)
            if head is not None and lights.get(head.id) == "red":
                red |= points_in_polygon(points, lane.polygon)
        return red

    def _green(self, lane_id: str, lights: Mapping[str, SignalColour]) -> bool:
        head = self.site.head_of(lane_id)
        return head is not None and lights.get(head.id) == "green"

    def _stopped_in_junction(self, tracks: Detections, speed: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        lane_ids = [lane.id for lane in self.site.lanes]
        out = np.zeros(len(lane_ids), dtype=np.int64)
        if self.site.junction is None or len(tracks) == 0:
            return out
        unit = 1.0 if self.site.ground() is not None else 8.0  # px/s without a homography
        inside = points_in_polygon(tracks.anchors(), self.site.junction) & (speed < BOX_CRAWL_M_S * unit)
        counted = self.counter.stop_lines.counted_lanes
        for i in np.flatnonzero(inside):
            lane = counted.get(int(tracks.tracker_id[i]))
            if lane is not None:
                out[lane_ids.index(lane)] += 1
        return out


def queue_region(site: SiteConfig, margin: float = 0.25) -> tuple[int, int, int, int]:
    """The image box around every lane polygon (x1, y1, x2, y2), grown upwards by ``margin``
    of its height (a vehicle standing at the far end of a zone rises above it), within the frame."""
    pts = np.concatenate([np.asarray(lane.polygon, dtype=np.float64) for lane in site.lanes])
    w, h = site.frame_size
    (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
    y1 -= margin * (y2 - y1)
    return int(max(np.floor(x1), 0)), int(max(np.floor(y1), 0)), int(min(np.ceil(x2), w)), int(min(np.ceil(y2), h))


def _finite(x: float) -> float:
    return 0.0 if not np.isfinite(x) else float(x)


class VideoCameraSource:
    """Decode -> detect -> fuse riders -> track -> read the signal -> ``CameraFrame`` per step.

    The defaults are the ones measured best on the Hanoi intersection clip
    (``benchmarks/vision_errors.py``): load the detector with ``conf=0.15`` (most riders in a
    queue are seen at 0.15-0.4) and track with ``vision.tracker.DENSE_TRAFFIC``; riders are
    fused into their two-wheelers (``vision.riders``). The free-flow clips stay exact with them.

    ``zoom_detector`` (a second detector instance, e.g. ``imgsz=1280``): once per step the
    lanes' region is detected again enlarged ``zoom_scale`` times (:mod:`vision.zoom`) and
    the frames' queue counts come from it: a packed queue of two-wheelers is found about
    twice as completely as from the whole frame.
    """

    def __init__(self, frames: Iterable[Frame], detector: Detector, site: SiteConfig, *,
                 step_s: float = 1.0, tracker: ByteTracker | None = None,
                 zoom_detector: Detector | None = None, zoom_scale: float = 2.0,
                 fuse_two_wheelers: bool = True, stopped_speed_m_s: float | None = None,
                 remember_queue: bool = True, crossings: Mapping[str, tuple[str, int]] | None = None) -> None:
        self.frames = frames
        self.detector = detector
        self.site = site
        self.tracker = tracker or ByteTracker(DENSE_TRAFFIC)
        self.zoom = None if zoom_detector is None else RegionDetector(zoom_detector, queue_region(site), zoom_scale)
        self.fuse_two_wheelers = fuse_two_wheelers
        self.builder = CameraFrameBuilder(site, step_s=step_s, crossings=crossings)
        self.builder.census_mode = self.zoom is not None
        if self.zoom is not None and remember_queue:
            self.builder.queue_memory = QueueMemory()
        if stopped_speed_m_s is not None:  # an experiment's override of STOPPED_SPEED_M_S
            self.builder.counter.zones.stopped_speed = stopped_speed_m_s
        self.heads = {h.id: SignalHeadReader(h.box) for h in site.signal_heads}
        self.layouts = self.builder.layouts
        self.lights: dict[str, SignalColour] = {}
        self.processed = 0
        self.frames_seen = 0  # frame index of the last one + 1 (counts frames skipped by a stride)
        self.video_s = 0.0
        self.seconds = 0.0
        self.last_tracks = Detections.empty()
        # the last frame and its tracks, swapped as one reference: read by another thread
        # (the dashboard's thumbnail, annotated_jpeg) while this one decodes the next
        self.last_view: tuple[npt.NDArray[np.uint8], Detections] | None = None

    def annotated_jpeg(self, width_px: int = THUMBNAIL_WIDTH_PX) -> bytes | None:
        """The last frame with the lanes, stop lines (red), crosswalk waiting areas (yellow) and tracked boxes drawn, ``width_px``
        wide, as JPEG; None before the first frame."""
        view = self.last_view
        if view is None:
            return None
        import cv2

        from vision.annotate import draw_tracks

        image, tracks = view
        annotated = image.copy()
        for lane in self.site.lanes:
            cv2.polylines(annotated, [np.asarray(lane.polygon, np.int32)], True, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.polylines(annotated, [np.asarray(lane.stop_line, np.int32)], False, (0, 0, 255), 2, cv2.LINE_AA)
        for crosswalk in self.site.crosswalks:
            for area in crosswalk.waiting_areas:
                cv2.polylines(annotated, [np.asarray(area, np.int32)], True, (0, 255, 255), 1, cv2.LINE_AA)
        draw_tracks(annotated, tracks)
        h, w = annotated.shape[:2]
        small = cv2.resize(annotated, (width_px, max(1, round(h * width_px / w))), interpolation=cv2.INTER_AREA)
        return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()

    def __iter__(self) -> Iterator[dict[str, CameraFrame]]:
        start = time.perf_counter()
        try:
            for frame in self.frames:
                dets = self.detector.detect(frame.image)
                if self.fuse_two_wheelers:
                    dets = fuse_riders(dets, frame_h=frame.image.shape[0])
                tracks = self.tracker.update(dets, frame.t_s)
                self.last_tracks = tracks
                self.last_view = (frame.image, tracks)
                self.lights = {hid: reader.update(frame.image, frame.t_s) for hid, reader in self.heads.items()}
                census = None
                if self.zoom is not None and self.builder.due(frame.t_s):
                    census = self.zoom.detect(frame.image)
                    if self.fuse_two_wheelers:
                        census = fuse_riders(census, frame_h=frame.image.shape[0])
                out = self.builder.update(tracks, frame.t_s, self.lights, census)
                self.processed += 1
                self.frames_seen = frame.index + 1
                self.video_s = frame.t_s
                self.seconds = time.perf_counter() - start
                if out:
                    yield out
        finally:  # also when the video breaks off: crossings waiting for their turn are kept
            self.builder.flush()
            self.seconds = time.perf_counter() - start

    def signal_intervals(self) -> dict[str, list[SignalInterval]]:
        return {hid: reader.finish() for hid, reader in self.heads.items()}

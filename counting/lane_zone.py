"""Lane-zone occupancy and queues: vehicles present and stopped per lane, queue in metres.

A vehicle is in a lane when its anchor (bottom-centre) lies inside the lane polygon. It is
stopped when its ground speed is below :data:`counting.camera_frame.STOPPED_SPEED_M_S`
(the one "stopped" of camera frames; its docstring gives the measurement behind it; pixels
per second without a homography). The speed is measured over ``speed_window_s`` seconds: the mean ground position
of the track's latest samples against the mean of its oldest samples in the window, so the
1-2 px jitter of a detector's box (several cm per frame near the camera) does not read as
motion. A track younger than ``min_span_s`` has no speed yet (NaN: neither stopped nor
moving). Queue length in metres runs from the stop line to the back of the farthest stopped
vehicle: its anchor's ground distance to the stop line plus a typical length for its class.

After each ``update`` the per-track state (``track_ids``, ``track_speed``, ``track_lane``,
``track_dist_m``) is kept for consumers that need it (arrival times, head of line).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from calibration.geometry import point_segment_distance, points_in_polygon
from calibration.homography import Homography
from calibration.site import LaneConfig
from counting.camera_frame import STOPPED_SPEED_M_S
from counting.events import QueueSample
from vision.classes import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, TRUCK
from vision.detections import Detections
from vision.tracker import iou_matrix

VEHICLE_LENGTH_M: dict[int, float] = {CAR: 4.5, MOTORCYCLE: 2.2, BUS: 12.0, TRUCK: 10.0, BICYCLE: 1.8, PERSON: 0.5}
STOPPED_SPEED_PX_S = 8.0  # without a homography: a pixel threshold, only for quick looks


class LaneZones:
    """``update(tracks, t_s) -> list[QueueSample]``, one sample per lane."""

    def __init__(self, lanes: Sequence[LaneConfig], homography: Homography | None = None, *,
                 stopped_speed_m_s: float = STOPPED_SPEED_M_S, stopped_speed_px_s: float = STOPPED_SPEED_PX_S,
                 speed_window_s: float = 2.0, min_span_s: float = 0.5, forget_s: float = 10.0) -> None:
        self.lanes = list(lanes)
        self.homography = homography
        self.stopped_speed = stopped_speed_m_s if homography is not None else stopped_speed_px_s
        self.speed_window_s = speed_window_s
        self.min_span_s = min_span_s
        self.forget_s = forget_s
        self._history: dict[int, deque[tuple[float, float, float]]] = {}
        self.track_ids = np.zeros(0, np.int64)
        self.track_speed = np.zeros(0, np.float64)
        self.track_lane = np.zeros(0, np.int64)
        self.track_dist_m = np.zeros(0, np.float64)
        self._track_xyxy = np.zeros((0, 4), np.float32)
        if homography is not None:
            self._stop_line_m = [homography.to_ground(np.asarray(lane.stop_line)) for lane in self.lanes]

    def _ground(self, px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.homography.to_ground(px) if self.homography is not None else px

    def speeds(self, tracks: Detections, t_s: float) -> npt.NDArray[np.float64]:
        """Windowed ground speed of each track (m/s, or px/s without homography); NaN if too new."""
        pos = self._ground(tracks.anchors().astype(np.float64))
        speed = np.full(len(tracks), np.nan)
        for i, tid in enumerate(tracks.tracker_id.tolist()):
            hist = self._history.setdefault(tid, deque())
            hist.append((t_s, float(pos[i, 0]), float(pos[i, 1])))
            while hist and hist[0][0] < t_s - self.speed_window_s - 1e-9:
                hist.popleft()
            speed[i] = self._window_speed(hist)
        for tid in [t for t, h in self._history.items() if t_s - h[-1][0] > self.forget_s]:
            del self._history[tid]
        return speed

    def _window_speed(self, hist: deque[tuple[float, float, float]]) -> float:
        if hist[-1][0] - hist[0][0] < self.min_span_s:
            return float("nan")
        h = np.asarray(hist)
        k = max(1, len(h) // 3)
        old, new = h[:k].mean(axis=0), h[-k:].mean(axis=0)
        dt = new[0] - old[0]
        return float(np.hypot(new[1] - old[1], new[2] - old[2]) / dt) if dt > 0 else float("nan")

    def update(self, tracks: Detections, t_s: float) -> list[QueueSample]:
        speed = self.speeds(tracks, t_s)
        stopped = speed < self.stopped_speed        # NaN (new track) is not stopped
        anchors = tracks.anchors().astype(np.float64)
        ground = self._ground(anchors)
        lane_of = np.full(len(tracks), -1, np.int64)
        dist = np.full(len(tracks), np.nan)
        samples = []
        for j, lane in enumerate(self.lanes):
            inside = points_in_polygon(anchors, lane.polygon) & (lane_of < 0)
            lane_of[inside] = j
            if self.homography is not None and inside.any():
                a_m, b_m = self._stop_line_m[j]
                dist[inside] = point_segment_distance(ground[inside], a_m, b_m)
            classes, counts = np.unique(tracks.class_id[inside], return_counts=True)
            queued = inside & stopped
            queue_m = float("nan")
            if self.homography is not None:
                queue_m = 0.0
                if queued.any():
                    lengths = np.array([VEHICLE_LENGTH_M.get(int(c), 4.5) for c in tracks.class_id[queued]])
                    queue_m = float((dist[queued] + lengths).max())  # may exceed the view (a bus)
            samples.append(QueueSample(
                t_s, lane.id, int(inside.sum()), int(queued.sum()), queue_m,
                {int(c): int(n) for c, n in zip(classes, counts)},
            ))
        self.track_ids, self.track_speed = tracks.tracker_id.copy(), speed
        self.track_lane, self.track_dist_m = lane_of, dist
        self._track_xyxy = tracks.xyxy.copy()
        return samples

    def moving_boxes(self) -> npt.NDArray[np.float32]:
        """Boxes (xyxy) of the tracks of the last ``update`` that move (not stopped)."""
        return self._track_xyxy[self.track_speed >= self.stopped_speed]

    def census(self, detections: Detections, t_s: float, *, same_box_iou: float = 0.3) -> list[QueueSample]:
        """Queue samples from a more complete set of detections at ``t_s`` (an enlarged pass
        over the queue, :mod:`vision.zoom`), with speeds from the tracks of the last ``update``.

        ``present``: detections whose anchor lies in the lane; ``stopped``: present minus the
        lane's tracks that move (a detection cannot be timed, a track can); ``queue_m``: the
        farthest detection that is not a moving track's box (IoU below ``same_box_iou``).
        """
        anchors = detections.anchors().astype(np.float64)
        moving = self.track_speed >= self.stopped_speed
        on_moving = np.zeros(len(detections), dtype=bool)
        if moving.any() and len(detections):
            on_moving = iou_matrix(detections.xyxy, self._track_xyxy[moving]).max(axis=1) >= same_box_iou
        taken = np.zeros(len(detections), dtype=bool)
        samples = []
        for j, lane in enumerate(self.lanes):
            inside = points_in_polygon(anchors, lane.polygon) & ~taken
            taken |= inside
            n_moving = int((moving & (self.track_lane == j)).sum())
            queued = inside & ~on_moving
            queue_m = float("nan")
            if self.homography is not None:
                queue_m = 0.0
                if queued.any():
                    a_m, b_m = self._stop_line_m[j]
                    dist = point_segment_distance(self._ground(anchors[queued]), a_m, b_m)
                    lengths = np.array([VEHICLE_LENGTH_M.get(int(c), 4.5) for c in detections.class_id[queued]])
                    queue_m = float((dist + lengths).max())
            classes, counts = np.unique(detections.class_id[inside], return_counts=True)
            samples.append(QueueSample(
                t_s, lane.id, int(inside.sum()), max(int(inside.sum()) - n_moving, 0), queue_m,
                {int(c): int(n) for c, n in zip(classes, counts)},
            ))
        return samples

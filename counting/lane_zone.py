"""Lane-zone occupancy and queues: vehicles present and stopped per lane, queue in metres.

A vehicle is in a lane when its anchor (bottom-centre) lies inside the lane polygon. It is
stopped when its ground speed, from its anchor's movement over the last update mapped
through the site homography, is below ``stopped_speed_m_s`` (pixels per second without a
homography). Queue length in metres runs from the stop line to the back of the farthest
stopped vehicle: its anchor's ground distance to the stop line plus a typical length for its
class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from calibration.geometry import point_segment_distance, points_in_polygon
from calibration.homography import Homography
from calibration.site import LaneConfig
from counting.events import QueueSample
from vision.classes import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, TRUCK
from vision.detections import Detections

VEHICLE_LENGTH_M: dict[int, float] = {CAR: 4.5, MOTORCYCLE: 2.2, BUS: 12.0, TRUCK: 10.0, BICYCLE: 1.8, PERSON: 0.5}


class LaneZones:
    """``update(tracks, t_s) -> list[QueueSample]``, one sample per lane."""

    def __init__(self, lanes: Sequence[LaneConfig], homography: Homography | None = None, *,
                 stopped_speed_m_s: float = 1.0, stopped_speed_px_s: float = 8.0,
                 speed_smoothing: float = 0.5) -> None:
        self.lanes = list(lanes)
        self.homography = homography
        self.stopped_speed = stopped_speed_m_s if homography is not None else stopped_speed_px_s
        self.speed_smoothing = speed_smoothing
        self._ids = np.zeros(0, np.int64)
        self._pos = np.zeros((0, 2), np.float64)     # ground m (or px)
        self._speed = np.zeros(0, np.float64)
        self._t_s = np.zeros(0, np.float64)
        if homography is not None:
            self._stop_line_m = [homography.to_ground(np.asarray(lane.stop_line)) for lane in self.lanes]

    def _ground(self, px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.homography.to_ground(px) if self.homography is not None else px

    def speeds(self, tracks: Detections, t_s: float) -> npt.NDArray[np.float64]:
        """Smoothed ground speed of each track (m/s, or px/s without homography); NaN if new."""
        pos = self._ground(tracks.anchors().astype(np.float64))
        ids = tracks.tracker_id
        speed = np.full(len(ids), np.nan)
        row = {int(t): r for r, t in enumerate(self._ids)}
        for i, tid in enumerate(ids.tolist()):
            r = row.get(tid)
            if r is None or t_s <= self._t_s[r]:
                continue
            inst = float(np.hypot(*(pos[i] - self._pos[r]))) / (t_s - self._t_s[r])
            old = self._speed[r]
            a = self.speed_smoothing
            speed[i] = inst if np.isnan(old) else a * inst + (1 - a) * old
        gone = ~np.isin(self._ids, ids) & (t_s - self._t_s < 10.0)
        self._ids = np.concatenate([self._ids[gone], ids])
        self._pos = np.concatenate([self._pos[gone], pos])
        self._speed = np.concatenate([self._speed[gone], speed])
        self._t_s = np.concatenate([self._t_s[gone], np.full(len(ids), t_s)])
        return speed

    def update(self, tracks: Detections, t_s: float) -> list[QueueSample]:
        speed = self.speeds(tracks, t_s)
        stopped = speed < self.stopped_speed        # NaN (new track) is not stopped
        anchors = tracks.anchors().astype(np.float64)
        samples = []
        for j, lane in enumerate(self.lanes):
            inside = points_in_polygon(anchors, lane.polygon)
            classes, counts = np.unique(tracks.class_id[inside], return_counts=True)
            queued = inside & stopped
            queue_m = float("nan")
            if self.homography is not None:
                queue_m = 0.0
                if queued.any():
                    a_m, b_m = self._stop_line_m[j]
                    dist = point_segment_distance(self._ground(anchors[queued]), a_m, b_m)
                    lengths = np.array([VEHICLE_LENGTH_M.get(int(c), 4.5) for c in tracks.class_id[queued]])
                    queue_m = float((dist + lengths).max())
            samples.append(QueueSample(
                t_s, lane.id, int(inside.sum()), int(queued.sum()), queue_m,
                {int(c): int(n) for c, n in zip(classes, counts)},
            ))
        return samples

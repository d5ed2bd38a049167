"""Stop-line crossings: flow per lane, each vehicle counted once.

A vehicle is counted when the anchor point of its track (bottom-centre of the box, where it
touches the road) moves from the approach side of a lane's stop line to the far side between
two consecutive updates. Counted track ids are remembered, so a track that stops on the line
and jitters back and forth is counted once.

Two guards against tracker fragmentation (one vehicle seen as two track ids):

* re-count guard: a crossing by a new id close (in time and space) to a crossing by an id
  that has just vanished is the same vehicle and is not counted again;
* hand-over: an id that appears just past the line, where an uncounted id vanished just
  before it, is that vehicle and is counted (once).

Example::

    counter = StopLineCounter(site.lanes)
    for t_s, tracks in tracked_frames:
        for crossing in counter.update(tracks, t_s):
            print(crossing.lane, crossing.class_id)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from calibration.geometry import point_segment_distance, segments_cross, side_of_line
from calibration.site import LaneConfig
from counting.events import Crossing
from vision.detections import Detections


class StopLineCounter:
    """``update(tracks, t_s) -> list[Crossing]`` for the stop lines of ``lanes``.

    Keeps the last anchor of every track seen in the last ``memory_s`` seconds, so a track the
    tracker lost for a few frames while crossing is still counted when it reappears.
    """

    def __init__(self, lanes: Sequence[LaneConfig], *, fragment_s: float = 1.0,
                 fragment_box_fraction: float = 0.6, memory_s: float = 10.0) -> None:
        self.lanes = list(lanes)
        self.fragment_s = fragment_s
        self.fragment_box_fraction = fragment_box_fraction
        self.memory_s = memory_s
        self._a = np.array([lane.stop_line[0] for lane in self.lanes], dtype=np.float64)
        self._b = np.array([lane.stop_line[1] for lane in self.lanes], dtype=np.float64)
        self._after_sign = np.array([lane.after_side_sign() for lane in self.lanes])
        self._both = np.array([lane.bidirectional for lane in self.lanes])
        # Memory of recent tracks, parallel arrays by row.
        self._ids = np.zeros(0, np.int64)
        self._anchor = np.zeros((0, 2), np.float64)
        self._box_h = np.zeros(0, np.float64)
        self._seen_s = np.zeros(0, np.float64)
        self._counted: dict[int, str] = {}

    @property
    def counted_ids(self) -> frozenset[int]:
        return frozenset(self._counted)

    @property
    def counted_lanes(self) -> Mapping[int, str]:
        """Track id -> the lane whose stop line it was counted at (read-only view)."""
        return MappingProxyType(self._counted)

    def update(self, tracks: Detections, t_s: float) -> list[Crossing]:
        ids = tracks.tracker_id
        anchor = tracks.anchors().astype(np.float64)
        box_h = (tracks.xyxy[:, 3] - tracks.xyxy[:, 1]).astype(np.float64)
        known = np.isin(ids, self._ids)
        row = {int(t): r for r, t in enumerate(self._ids)}
        prev_rows = np.array([row[int(t)] for t in ids[known]], dtype=np.int64)
        cur_known = np.flatnonzero(known)
        vanished = ~np.isin(self._ids, ids) & (t_s - self._seen_s <= self.fragment_s)
        events: list[Crossing] = []

        lane_of = self._crossed_lane(self._anchor[prev_rows], anchor[cur_known])
        for k in np.flatnonzero(lane_of >= 0):
            i = cur_known[k]
            tid = int(ids[i])
            if tid in self._counted:
                continue
            lane = self.lanes[lane_of[k]].id
            self._counted[tid] = lane
            if not self._is_fragment_of_counted(anchor[i], box_h[i], lane, vanished):
                events.append(Crossing(t_s, lane, int(tracks.class_id[i]), tid))

        for i in np.flatnonzero(~known):
            tid = int(ids[i])
            lane = self._handed_over_lane(anchor[i], box_h[i], vanished)
            if lane is not None and tid not in self._counted:
                self._counted[tid] = lane
                events.append(Crossing(t_s, lane, int(tracks.class_id[i]), tid))

        self._remember(ids, anchor, box_h, t_s)
        return events

    def _crossed_lane(self, p0: npt.NDArray[np.float64], p1: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Index of the lane whose stop line each movement p0 -> p1 crosses forward, else -1."""
        lane_of = np.full(len(p0), -1, dtype=np.int64)
        best = np.full(len(p0), np.inf)
        for j in range(len(self.lanes)):
            crossed = segments_cross(p0, p1, self._a[j], self._b[j])
            if not self._both[j]:
                crossed &= np.sign(side_of_line(p1, self._a[j], self._b[j])) == self._after_sign[j]
            # Where two lanes' stop lines meet, give the crossing to the nearer line centre.
            dist = np.linalg.norm((p0 + p1) / 2 - (self._a[j] + self._b[j]) / 2, axis=1)
            take = crossed & (dist < best)
            lane_of[take], best[take] = j, dist[take]
        return lane_of

    def _remember(self, ids: npt.NDArray[np.int64], anchor: npt.NDArray[np.float64],
                  box_h: npt.NDArray[np.float64], t_s: float) -> None:
        stale = np.isin(self._ids, ids) | (t_s - self._seen_s > self.memory_s)
        keep = ~stale
        self._ids = np.concatenate([self._ids[keep], ids])
        self._anchor = np.concatenate([self._anchor[keep], anchor])
        self._box_h = np.concatenate([self._box_h[keep], box_h])
        self._seen_s = np.concatenate([self._seen_s[keep], np.full(len(ids), t_s)])

    def _is_fragment_of_counted(self, anchor: npt.NDArray[np.float64], box_h: float, lane: str,
                                vanished: npt.NDArray[np.bool_]) -> bool:
        """A counted track in ``lane`` vanished moments ago right here: same vehicle, new id."""
        reach = self.fragment_box_fraction * box_h
        for r in np.flatnonzero(vanished):
            if self._counted.get(int(self._ids[r])) == lane and np.hypot(*(anchor - self._anchor[r])) <= reach:
                return True
        return False

    def _handed_over_lane(self, anchor: npt.NDArray[np.float64], box_h: float,
                          vanished: npt.NDArray[np.bool_]) -> str | None:
        """Lane to count a new track in, if it takes over an uncounted track that vanished
        just before that lane's stop line while the new one starts just past it."""
        reach = self.fragment_box_fraction * box_h
        for j, lane in enumerate(self.lanes):
            if self._both[j]:
                continue
            if np.sign(side_of_line([anchor], self._a[j], self._b[j])[0]) != self._after_sign[j]:
                continue
            if point_segment_distance([anchor], self._a[j], self._b[j])[0] > reach:
                continue
            for r in np.flatnonzero(vanished):
                before = np.sign(side_of_line([self._anchor[r]], self._a[j], self._b[j])[0]) != self._after_sign[j]
                if int(self._ids[r]) not in self._counted and before and \
                        np.hypot(*(anchor - self._anchor[r])) <= reach:
                    self._counted[int(self._ids[r])] = lane.id  # one vehicle hands over once
                    return lane.id
        return None

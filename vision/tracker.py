"""Multi-object tracking by detection: a ByteTrack-style tracker in numpy.

Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box" (ECCV
2022): first match confident detections to every live track by IoU against the track's
predicted box, then match the remaining low-confidence detections to the remaining tracks,
so a partly hidden vehicle keeps its id. Two changes for traffic cameras:

* Time-based, not frame-based: ``update(detections, t_s)`` predicts each track with a
  constant image velocity over the real elapsed time, so frame-stride detection and dropped
  live frames work unchanged.
* Lost tracks live ``max_lost_s`` seconds (default 5 s) and their velocity decays to zero
  while unseen, so a car queued at a long red that the detector misses for a while keeps
  its id instead of being counted again as a new vehicle.

Example::

    tracker = ByteTracker()
    for t_s, frame in frames:
        tracks = tracker.update(detector.detect(frame), t_s)   # tracker_id >= 0
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np
import numpy.typing as npt

from vision.detections import Detections


@dataclass(frozen=True)
class TrackerConfig:
    high_conf: float = 0.45         # first-stage detections; also the bar to start a track
    low_conf: float = 0.1           # second-stage (ByteTrack) detections
    match_iou: float = 0.2          # minimum IoU between predicted track box and detection
    confirm_hits: int = 2           # detections needed before a track is reported
    max_lost_s: float = 5.0         # how long an unseen track is kept
    velocity_smoothing: float = 0.5  # weight of the newest velocity estimate (0..1)
    velocity_decay_s: float = 2.0   # unseen tracks slow down with this time constant


DENSE_TRAFFIC = TrackerConfig(high_conf=0.25, low_conf=0.1, max_lost_s=10.0)
"""For queues of two-wheelers seen from behind (``calibration/sites/hanoi_intersection.yaml``):
most riders in a queue are detected at 0.15-0.4 confidence, so tracks start at 0.25, and a
rider hidden behind another for several seconds keeps its id for 10 s. Measured on the
Hanoi clip (``benchmarks/vision_errors.py``, detector at conf 0.15, riders fused): the lane
zones hold 14 of the 14 vehicles hand-counted at frame 96 (7 with the default config at
conf 0.25) and 19 of 20 stop-line crossings match a label, with one false; the free-flow
clips stay exact."""


def iou_matrix(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4) in xyxy form, shape (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)).astype(np.float32)


def match(iou: npt.NDArray[np.float32], min_iou: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Optimal one-to-one assignment maximising IoU (Jonker-Volgenant); pairs (rows, cols)."""
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, x, _ = lap.lapjv(1.0 - iou.astype(np.float64), extend_cost=True, cost_limit=1.0 - min_iou)
    rows = np.flatnonzero(x >= 0)
    return rows.astype(np.int64), x[rows].astype(np.int64)


class ByteTracker:
    """``update(detections, t_s) -> Detections`` with stable ``tracker_id`` per vehicle.

    State is held as parallel arrays (one row per live track), so each update is a handful of
    vectorised operations plus two small assignment problems.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._next_id = 1
        self._box = np.zeros((0, 4), np.float32)       # last estimate, image px
        self._vel = np.zeros((0, 4), np.float32)       # px/s per box coordinate
        self._id = np.zeros(0, np.int64)
        self._cls = np.zeros(0, np.int64)
        self._conf = np.zeros(0, np.float32)
        self._hits = np.zeros(0, np.int64)
        self._seen_s = np.zeros(0, np.float64)         # time of last matched detection
        self._t_s: float | None = None

    @property
    def live_ids(self) -> npt.NDArray[np.int64]:
        return self._id.copy()

    def predicted(self, t_s: float) -> Detections:
        """Where every confirmed live track is expected at ``t_s`` (for drawing between detections)."""
        box = self._predict(t_s)
        ok = self._hits >= self.config.confirm_hits
        return Detections(box[ok], self._conf[ok], self._cls[ok], self._id[ok])

    def _predict(self, t_s: float) -> npt.NDArray[np.float32]:
        """Last seen box moved by its velocity; the velocity decays while the track is unseen.

        Travel over an unseen time u is the integral of v * exp(-t / tau): about v * u for a
        frame or two, and never more than v * tau, so a car that stopped where the detector
        lost it is looked for where it stopped.
        """
        tau = self.config.velocity_decay_s
        unseen_s = np.maximum(t_s - self._seen_s, 0.0)
        travel_s = (tau * (1.0 - np.exp(-unseen_s / tau))).astype(np.float32)
        return (self._box + self._vel * travel_s[:, None]).astype(np.float32)

    def update(self, detections: Detections, t_s: float) -> Detections:
        """Associate ``detections`` seen at time ``t_s`` (seconds) with live tracks."""
        cfg = self.config
        pred = self._predict(t_s)
        dt_s = 0.0 if self._t_s is None else max(t_s - self._t_s, 1e-3)
        self._t_s = t_s
        n_tracks = len(pred)
        high = np.flatnonzero(detections.confidence >= cfg.high_conf)
        low = np.flatnonzero((detections.confidence >= cfg.low_conf) & (detections.confidence < cfg.high_conf))

        rows1, cols1 = match(iou_matrix(pred, detections.xyxy[high]), cfg.match_iou)
        matched_t, matched_d = list(rows1), list(high[cols1])
        left_t = np.setdiff1d(np.arange(n_tracks), rows1)
        rows2, cols2 = match(iou_matrix(pred[left_t], detections.xyxy[low]), cfg.match_iou)
        matched_t += list(left_t[rows2])
        matched_d += list(low[cols2])
        mt = np.asarray(matched_t, dtype=np.int64)
        md = np.asarray(matched_d, dtype=np.int64)

        if len(mt):
            new_box = detections.xyxy[md]
            gap_s = np.maximum(t_s - self._seen_s[mt], dt_s)
            inst_vel = (new_box - self._box[mt]) / gap_s[:, None].astype(np.float32)
            a = cfg.velocity_smoothing
            fresh = self._hits[mt] == 1
            self._vel[mt] = np.where(fresh[:, None], inst_vel, a * inst_vel + (1 - a) * self._vel[mt])
            self._box[mt] = new_box
            self._conf[mt] = detections.confidence[md]
            self._cls[mt] = detections.class_id[md]
            self._hits[mt] += 1
            self._seen_s[mt] = t_s
        # Unmatched tracks keep their last seen box and velocity; _predict extrapolates from those.

        unmatched_high = np.setdiff1d(high, md)
        self._spawn(detections[unmatched_high], t_s)

        alive = (t_s - self._seen_s) <= cfg.max_lost_s
        # A track never confirmed and already unseen is noise: drop it at once.
        alive &= ~((self._hits < cfg.confirm_hits) & (self._seen_s < t_s))
        self._keep(alive)

        out = (self._seen_s == t_s) & (self._hits >= cfg.confirm_hits)
        return Detections(self._box[out], self._conf[out], self._cls[out], self._id[out])

    def _spawn(self, dets: Detections, t_s: float) -> None:
        n = len(dets)
        if n == 0:
            return
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        self._box = np.concatenate([self._box, dets.xyxy])
        self._vel = np.concatenate([self._vel, np.zeros((n, 4), np.float32)])
        self._id = np.concatenate([self._id, ids])
        self._cls = np.concatenate([self._cls, dets.class_id])
        self._conf = np.concatenate([self._conf, dets.confidence])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._seen_s = np.concatenate([self._seen_s, np.full(n, t_s)])

    def _keep(self, mask: npt.NDArray[np.bool_]) -> None:
        self._box, self._vel, self._id = self._box[mask], self._vel[mask], self._id[mask]
        self._cls, self._conf, self._hits, self._seen_s = (
            self._cls[mask], self._conf[mask], self._hits[mask], self._seen_s[mask])

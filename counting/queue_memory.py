"""Vehicles standing in a queue stay counted while the vehicles behind them hide them.

A camera behind an approach sees each arriving vehicle whole: it stops at the back of the
queue, nearest the camera. The next arrivals stop behind it and hide it, riders behind
riders, so a detector finds fewer and fewer of the vehicles that stand as the queue grows
(Hanoi clip at red: 23 of 27 and 23 of 28 from an enlarged pass over the lanes). But a
vehicle that stood at a place and has not been seen to leave is still there as long as that
place is hidden. :class:`QueueMemory` keeps the boxes of the standing vehicles it was shown
and, at each census, adds to the detections every remembered box that no detection explains
and that is covered (``hidden_share`` of its area) by the boxes of standing vehicles nearer
the camera (their bottom edge lower in the image; at red, by any nearer boxes: riders creep
up behind a standing queue but none leaves it). A remembered place that is in view with
nothing on it, or hidden only by moving vehicles out of red (a queue discharging), is
forgotten: the vehicle left, or may have.

Example::

    memory = QueueMemory()
    census = memory.update(zoom.detect(frame), t_s, moving_xyxy=zones.moving_boxes())
    queues = zones.census(census, t_s)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vision.detections import Detections
from vision.tracker import iou_matrix, match

FloatArray = npt.NDArray[np.float32]


class QueueMemory:
    """``update(detections, t_s, moving_xyxy) -> Detections``: the detections plus the
    remembered standing vehicles they hide (confidence 0).

    ``same_iou``: a detection on a remembered box (IoU at least this, or its centre within
    ``same_centre`` box widths) is that vehicle; ``moving_iou``: a detection on a moving
    track's box is not remembered (it is passing, not queueing); ``max_hidden_s``: a vehicle
    hidden longer than this is forgotten (longer than any red).
    """

    def __init__(self, *, hidden_share: float = 0.5, same_iou: float = 0.3, same_centre: float = 0.5,
                 moving_iou: float = 0.3, max_hidden_s: float = 180.0, grid: int = 6) -> None:
        self.hidden_share, self.same_iou, self.same_centre = hidden_share, same_iou, same_centre
        self.moving_iou, self.max_hidden_s = moving_iou, max_hidden_s
        steps = (np.arange(grid) + 0.5) / grid
        self._unit = np.stack(np.meshgrid(steps, steps), axis=-1).reshape(-1, 2)  # sample points in a box
        self.xyxy = np.zeros((0, 4), np.float32)
        self.class_id = np.zeros(0, np.int64)
        self.seen_s = np.zeros(0)

    def __len__(self) -> int:
        return len(self.xyxy)

    def anchors(self) -> npt.NDArray[np.float64]:
        """Bottom-centre points of the remembered vehicles, in memory order."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1).astype(np.float64)

    def update(self, detections: Detections, t_s: float, moving_xyxy: FloatArray | None = None,
               at_red: npt.NDArray[np.bool_] | None = None) -> Detections:
        """``at_red``: for each remembered vehicle (in memory order), whether its lane shows red;
        there vehicles behind it hide it whether they stand or creep (none leaves at red)."""
        boxes = detections.xyxy
        matched_det = np.zeros(len(detections), dtype=bool)
        matched_mem = np.zeros(len(self), dtype=bool)
        if len(self) and len(detections):
            rows, cols = match(iou_matrix(self.xyxy, boxes), self.same_iou)
            left_m, left_d = np.setdiff1d(np.arange(len(self)), rows), np.setdiff1d(np.arange(len(boxes)), cols)
            r2, c2 = self._match_centres(self.xyxy[left_m], boxes[left_d])
            rows, cols = np.concatenate([rows, left_m[r2]]), np.concatenate([cols, left_d[c2]])
            self.xyxy[rows] = boxes[cols]
            self.class_id[rows] = detections.class_id[cols]
            self.seen_s[rows] = t_s
            matched_mem[rows], matched_det[cols] = True, True
        still = np.ones(len(boxes), dtype=bool)  # not on a moving track's box
        if moving_xyxy is not None and len(moving_xyxy) and len(boxes):
            still = iou_matrix(boxes, np.asarray(moving_xyxy, np.float32)).max(axis=1) < self.moving_iou
        # hidden behind standing vehicles: behind vehicles that move (a queue discharging) the
        # place may have emptied unseen
        covered = self._covered(self.xyxy, boxes[still])
        if at_red is not None and at_red.any():
            covered |= at_red & self._covered(self.xyxy, boxes)
        hidden = ~matched_mem & covered & (t_s - self.seen_s <= self.max_hidden_s)
        keep = matched_mem | hidden
        self.xyxy, self.class_id, self.seen_s = self.xyxy[keep], self.class_id[keep], self.seen_s[keep]
        hidden = hidden[keep]
        standing = ~matched_det & still
        self.xyxy = np.concatenate([self.xyxy, boxes[standing]])
        self.class_id = np.concatenate([self.class_id, detections.class_id[standing]])
        self.seen_s = np.concatenate([self.seen_s, np.full(int(standing.sum()), t_s)])
        n_hidden = int(hidden.sum())
        return Detections(np.concatenate([boxes, self.xyxy[: len(hidden)][hidden]]),
                          np.concatenate([detections.confidence, np.zeros(n_hidden, np.float32)]),
                          np.concatenate([detections.class_id, self.class_id[: len(hidden)][hidden]]))

    def _match_centres(self, a: FloatArray, b: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """One-to-one pairs of boxes whose centres lie within ``same_centre`` of their mean width."""
        if not len(a) or not len(b):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        ca, cb = (a[:, :2] + a[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2
        dist = np.linalg.norm(ca[:, None] - cb[None], axis=2)
        width = ((a[:, 2] - a[:, 0])[:, None] + (b[:, 2] - b[:, 0])[None]) / 2
        closeness = np.clip(1.0 - dist / np.maximum(self.same_centre * width, 1e-6), 0.0, 1.0)
        return match(closeness.astype(np.float32), 1e-6)

    def _covered(self, boxes: FloatArray, cover: FloatArray) -> npt.NDArray[np.bool_]:
        """Which ``boxes`` have ``hidden_share`` of their area under ``cover`` boxes nearer the
        camera (bottom edge lower in the image)."""
        if not len(boxes) or not len(cover):
            return np.zeros(len(boxes), dtype=bool)
        size = boxes[:, 2:] - boxes[:, :2]
        pts = boxes[:, None, :2] + self._unit[None] * size[:, None]                       # (K, P, 2)
        x, y = pts[..., 0][..., None], pts[..., 1][..., None]                              # (K, P, 1)
        inside = (x >= cover[:, 0]) & (x <= cover[:, 2]) & (y >= cover[:, 1]) & (y <= cover[:, 3])
        nearer = cover[None, None, :, 3] > boxes[:, None, None, 3]                          # (K, 1, C)
        return (inside & nearer).any(axis=2).mean(axis=1) >= self.hidden_share


__all__ = ["QueueMemory"]

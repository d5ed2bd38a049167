"""Two-wheelers in dense traffic: one motorcycle per rider, also when the bike is hidden.

COCO detectors see a motorcyclist as two objects, a ``person`` and a ``motorcycle``. In a
queue of two-wheelers seen from behind, the bikes hide each other and often only the rider's
back is detected. :func:`fuse_riders` turns the detections into one box per two-wheeler:

* a person whose box overlaps a two-wheeler box (``overlap`` of the person's lower half
  inside it) is that vehicle's rider: dropped, the two-wheeler stands for both;
* a person with no two-wheeler under it and a squat box (height/width below
  ``max_rider_aspect``: a torso and head, not a walking pedestrian's full body) is a rider
  whose bike is hidden: it becomes a ``motorcycle`` whose box is extended down by
  ``ground_extend`` times its height, so its anchor (bottom centre) is near where the hidden
  wheels touch the road;
* other persons (pedestrians, full body) stay persons; counting ignores them, except where
  they wait at a crosswalk (:func:`pedestrians` picks them, ``counting.crosswalk``);
* of two two-wheeler boxes one of which lies mostly inside the other (``same_vehicle``
  of the smaller box's area), only the more confident stays: a pillion passenger whose
  bike is hidden would otherwise become a second motorcycle behind the rider's.

Example::

    dets = fuse_riders(detector.detect(frame))
    tracks = tracker.update(dets, t_s)
"""

from __future__ import annotations

import numpy as np

from vision.classes import BICYCLE, MOTORCYCLE, PERSON
from vision.detections import Detections
from vision.detector import Detector


def _riders(dets: Detections, overlap: float, max_rider_aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """For the person rows of ``dets`` (in order): on a two-wheeler's box, and a rider whose
    bike is hidden (a squat box with no two-wheeler under it); see the module docstring."""
    person = dets.class_id == PERSON
    bikes = np.isin(dets.class_id, (MOTORCYCLE, BICYCLE))
    p = dets.xyxy[person].astype(np.float64)
    lower = p.copy()
    lower[:, 1] = (p[:, 1] + p[:, 3]) / 2
    b = dets.xyxy[bikes].astype(np.float64)
    if len(b):
        tl = np.maximum(lower[:, None, :2], b[None, :, :2])
        br = np.minimum(lower[:, None, 2:], b[None, :, 2:])
        inter = np.clip(br - tl, 0, None).prod(axis=2)
        area = np.maximum((lower[:, 2:] - lower[:, :2]).prod(axis=1), 1e-6)
        on_bike = (inter / area[:, None]).max(axis=1) >= overlap
    else:
        on_bike = np.zeros(len(p), dtype=bool)
    w, h = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    return on_bike, ~on_bike & (h < max_rider_aspect * w)


def pedestrians(dets: Detections, *, overlap: float = 0.3, max_rider_aspect: float = 2.2) -> np.ndarray:
    """Boolean mask of the rows of ``dets`` that are persons on foot: ``person`` boxes that are
    neither on a two-wheeler nor a rider whose bike is hidden (the rules of :func:`fuse_riders`,
    so a rider it left a person, or detections it never saw, are judged alike)."""
    mask = dets.class_id == PERSON
    if mask.any():
        on_bike, hidden_bike = _riders(dets, overlap, max_rider_aspect)
        mask[np.flatnonzero(mask)] = ~on_bike & ~hidden_bike
    return mask


def fuse_riders(dets: Detections, *, overlap: float = 0.3, max_rider_aspect: float = 2.2,
                ground_extend: float = 0.8, same_vehicle: float = 0.8, frame_h: float | None = None) -> Detections:
    """Detections with riders merged into their two-wheelers (see the module docstring)."""
    person = dets.class_id == PERSON
    if not person.any():
        return dets
    on_bike, hidden_bike = _riders(dets, overlap, max_rider_aspect)
    h = (dets.xyxy[person, 3] - dets.xyxy[person, 1]).astype(np.float64)
    xyxy = dets.xyxy.copy()
    cls = dets.class_id.copy()
    rows = np.flatnonzero(person)
    grow = rows[hidden_bike]
    xyxy[grow, 3] = xyxy[grow, 3] + ground_extend * h[hidden_bike].astype(np.float32)
    if frame_h is not None:
        xyxy[grow, 3] = np.minimum(xyxy[grow, 3], frame_h)
    cls[grow] = MOTORCYCLE
    keep = np.ones(len(dets), dtype=bool)
    keep[rows[on_bike]] = False
    keep &= ~_inside_another_two_wheeler(xyxy, dets.confidence, cls, keep, same_vehicle)
    return Detections(xyxy[keep], dets.confidence[keep], cls[keep], dets.tracker_id[keep])


def _inside_another_two_wheeler(xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, alive: np.ndarray,
                                share: float) -> np.ndarray:
    """Two-wheeler rows covered by ``share`` of their area by a more confident two-wheeler box."""
    rows = np.flatnonzero(alive & np.isin(cls, (MOTORCYCLE, BICYCLE)))
    out = np.zeros(len(xyxy), dtype=bool)
    if len(rows) < 2:
        return out
    b = xyxy[rows].astype(np.float64)
    tl = np.maximum(b[:, None, :2], b[None, :, :2])
    br = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area = (b[:, 2:] - b[:, :2]).prod(axis=1)
    smaller = np.minimum(area[:, None], area[None, :])
    same = inter / np.maximum(smaller, 1e-6) >= share
    np.fill_diagonal(same, False)
    c = conf[rows]
    # a row goes when a more confident box (ties: the earlier row) is the same vehicle
    better = (c[None, :] > c[:, None]) | ((c[None, :] == c[:, None]) & (np.arange(len(rows))[None, :] < np.arange(len(rows))[:, None]))
    out[rows] = (same & better).any(axis=1)
    return out


class RiderFusingDetector:
    """A detector whose detections have their riders fused (:func:`fuse_riders`): where a
    loop takes a detector, e.g. ``phasewise replay`` on a dense scene."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.name = f"{detector.name}+riders"
        self.imgsz = getattr(detector, "imgsz", None)

    def detect(self, frame: np.ndarray) -> Detections:
        return fuse_riders(self.detector.detect(frame), frame_h=frame.shape[0])

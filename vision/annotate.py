"""Drawing tracked road users on a frame (boxes, class, track id) for annotated videos."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from vision.classes import CLASS_NAMES
from vision.detections import Detections


def track_colour(tracker_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per track id."""
    rng = np.random.default_rng(tracker_id * 7919 + 17)
    return tuple(int(c) for c in rng.integers(64, 256, size=3))  # type: ignore[return-value]


def draw_tracks(frame: npt.NDArray[np.uint8], tracks: Detections, *, counted: frozenset[int] = frozenset()) -> None:
    """Draw boxes and ``class #id`` labels in place; counted vehicles get a thick box."""
    for box, cls, tid in zip(tracks.xyxy.astype(int), tracks.class_id, tracks.tracker_id):
        colour = track_colour(int(tid))
        x1, y1, x2, y2 = box.tolist()
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, 3 if int(tid) in counted else 1)
        label = f"{CLASS_NAMES.get(int(cls), str(int(cls)))} #{int(tid)}"
        cv2.putText(frame, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
        cx = (x1 + x2) // 2
        cv2.circle(frame, (cx, y2), 3, colour, -1)

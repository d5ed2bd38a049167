"""The one value type that flows between vision stages: ``Detections``.

A frozen dataclass of parallel numpy arrays, one row per object, in the spirit of
roboflow/supervision. Detectors produce it (without ``tracker_id``), trackers return it
with ``tracker_id`` filled in, counters consume it. Nothing downstream knows which model ran.

Example::

    dets = detector.detect(frame)          # Detections, tracker_id all -1
    tracks = tracker.update(dets)          # Detections, tracker_id >= 0
    anchors = tracks.anchors()             # (N, 2) bottom-centre points, pixels
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Detections:
    """Boxes in image pixels (x1, y1, x2, y2), confidence 0..1, COCO class id, track id.

    ``tracker_id`` is -1 for untracked detections.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, dtype=np.float32).reshape(n, 4))
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(n))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int64).reshape(n))
        tid = np.asarray(self.tracker_id, dtype=np.int64)
        if tid.size == 0 and n > 0:
            tid = np.full(n, -1, dtype=np.int64)
        object.__setattr__(self, "tracker_id", tid.reshape(n))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> Detections:
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], self.tracker_id[index]
        )

    def anchors(self) -> FloatArray:
        """Bottom-centre point of each box, (N, 2) pixels: where the vehicle touches the road."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    def centers(self) -> FloatArray:
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5, (self.xyxy[:, 1] + self.xyxy[:, 3]) * 0.5],
            axis=1,
        ).astype(np.float32)

    def with_classes(self, class_ids: tuple[int, ...]) -> Detections:
        """Only the rows whose class is in ``class_ids``."""
        return self[np.isin(self.class_id, np.asarray(class_ids, dtype=np.int64))]

"""Tracked vehicles over a stretch of video: the raw material for proposing a site.

:class:`Trajectories` holds one row per vehicle track per processed frame (time, track id,
class, the box's bottom-centre anchor where the vehicle touches the road, and the box size),
as parallel numpy arrays. :func:`record_trajectories` fills it by running a detector and
the tracker over frames; ``save``/``load`` keep it in an ``.npz`` file, so the slow part
(detection) runs once while the proposal (:mod:`counting.site_suggest`) is tuned or rerun.

Example::

    video = VideoFile("clip.mp4", max_frames=3000)
    trajectories = record_trajectories(video, load_detector(None, imgsz=640))
    trajectories.save("out/clip_tracks.npz")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from phasewise_errors import ConfigError
from vision.classes import VEHICLE_CLASSES
from vision.detector import Detector
from vision.riders import RiderFusingDetector
from vision.tracker import DENSE_TRAFFIC, ByteTracker
from vision.video import Frame

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Trajectories:
    """Vehicle tracks as parallel arrays, one row per track per frame, sorted by track then time.

    ``anchor_px`` (N, 2) is the bottom centre of the box, ``size_px`` (N, 2) its width and
    height; ``frame_size`` is the frames' (width, height) in pixels.
    """

    t_s: FloatArray
    track_id: IntArray
    class_id: IntArray
    anchor_px: FloatArray
    size_px: FloatArray
    frame_size: tuple[int, int]
    video_s: float

    def __post_init__(self) -> None:
        order = np.lexsort((self.t_s, self.track_id))
        for name in ("t_s", "track_id", "class_id", "anchor_px", "size_px"):
            object.__setattr__(self, name, np.asarray(getattr(self, name))[order])

    def __len__(self) -> int:
        return len(self.t_s)

    def tracks(self, min_points: int = 2) -> Iterator[tuple[int, npt.NDArray[np.int64]]]:
        """``(track_id, rows)`` per track with at least ``min_points`` rows, rows in time order."""
        if not len(self):
            return
        starts = np.flatnonzero(np.r_[True, np.diff(self.track_id) != 0])
        ends = np.r_[starts[1:], len(self)]
        for s, e in zip(starts, ends):
            if e - s >= min_points:
                yield int(self.track_id[s]), np.arange(s, e)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(Path(path), t_s=self.t_s, track_id=self.track_id, class_id=self.class_id,
                            anchor_px=self.anchor_px, size_px=self.size_px,
                            frame_size=np.asarray(self.frame_size), video_s=np.asarray(self.video_s))

    @classmethod
    def load(cls, path: str | Path) -> Trajectories:
        try:
            with np.load(Path(path)) as z:
                return cls(z["t_s"], z["track_id"], z["class_id"], z["anchor_px"], z["size_px"],
                           (int(z["frame_size"][0]), int(z["frame_size"][1])), float(z["video_s"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: not a trajectories file written by phasewise ({exc})") from exc


def record_trajectories(frames: Iterable[Frame], detector: Detector, *,
                        tracker: ByteTracker | None = None) -> Trajectories:
    """Detect and track vehicles over ``frames``; every confirmed vehicle track, every frame.

    Riders are fused into their two-wheelers and the tracker keeps hidden vehicles for 10 s
    (:data:`vision.tracker.DENSE_TRAFFIC`), so a queue of two-wheelers gives one track each.
    """
    fused = RiderFusingDetector(detector)
    tracker = tracker or ByteTracker(DENSE_TRAFFIC)
    rows: list[tuple[np.ndarray, ...]] = []
    width = height = 0
    t_last = 0.0
    for frame in frames:
        height, width = frame.image.shape[:2]
        t_last = frame.t_s
        tracks = tracker.update(fused.detect(frame.image), frame.t_s)
        tracks = tracks[(tracks.tracker_id >= 0) & np.isin(tracks.class_id, VEHICLE_CLASSES)]
        if len(tracks):
            size = tracks.xyxy[:, 2:] - tracks.xyxy[:, :2]
            rows.append((np.full(len(tracks), frame.t_s), tracks.tracker_id, tracks.class_id,
                         tracks.anchors().astype(np.float64), size.astype(np.float64)))
    if not rows:
        empty = np.zeros((0, 2))
        return Trajectories(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty,
                            (width, height), t_last)
    t, tid, cls, anchor, size = (np.concatenate(parts) for parts in zip(*rows))
    return Trajectories(t, tid, cls, anchor, size, (width, height), t_last)


__all__ = ["Trajectories", "record_trajectories"]

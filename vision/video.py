"""Frame sources: recorded video files and live camera streams, behind one small interface.

Both yield ``Frame`` values (index, time in seconds, BGR image). A file's time is its frame
index over its frame rate, so replays are reproducible; a live stream's time is the injected
clock's (wall clock by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from phasewise_errors import VideoError

# FFmpeg's own messages ("moov atom not found") would print raw on stderr next to our one-line
# errors; quiet them (the VideoError says the same in words). Set the variable to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_BAD_FRAMES = 30


@dataclass(frozen=True)
class Frame:
    index: int
    t_s: float
    image: npt.NDArray[np.uint8]


class VideoFile:
    """A recorded video, checked at open: ``for frame in VideoFile(path): ...``.

    Missing or undecodable files raise ``VideoError``. A file that stops early (truncated) or
    has corrupt frames is read as far as it goes; bad frames are skipped with a logged
    warning, so counts already made are kept.
    """

    def __init__(self, path: str | Path, *, max_frames: int | None = None, every: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"video not found: {self.path}")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise VideoError(f"cannot open video {self.path}: not a video OpenCV can decode (truncated or corrupt?)")
        ok, first = self._cap.read()
        if not ok or first is None:
            raise VideoError(f"video {self.path} has no decodable frame (truncated or corrupt?)")
        self._first: npt.NDArray[np.uint8] | None = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1.0 <= fps <= 240.0 else 30.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        self.height, self.width = first.shape[:2]
        self.max_frames = max_frames
        self.every = max(1, every)   # yield every n-th frame; the others are grabbed, not decoded to BGR
        self.frames_read = 0
        self.frames_skipped = 0
        self.bad_frames = 0

    @property
    def expected_frames(self) -> int | None:
        if self.frame_count is None:
            return self.max_frames
        return min(self.frame_count, self.max_frames) if self.max_frames else self.frame_count

    def __iter__(self) -> Iterator[Frame]:
        index, bad_run = 0, 0
        while self.max_frames is None or index < self.max_frames:
            if self._first is not None:
                ok, image = True, self._first
                self._first = None
            elif index % self.every:
                if not self._cap.grab():
                    break
                self.frames_skipped += 1
                index += 1
                continue
            else:
                ok, image = self._cap.read()
            if not ok or image is None:
                if self.frame_count and index < self.frame_count - 1 and bad_run < MAX_CONSECUTIVE_BAD_FRAMES:
                    bad_run += 1
                    self.bad_frames += 1
                    index += 1
                    continue
                break
            if image.shape[:2] != (self.height, self.width):
                log.warning("%s: frame %d has size %s, expected %dx%d; skipped",
                            self.path.name, index, image.shape[1::-1], self.width, self.height)
                self.bad_frames += 1
                index += 1
                continue
            bad_run = 0
            self.frames_read += 1
            yield Frame(index, index / self.fps, image)
            index += 1
        if self.frame_count and self.frames_read + self.frames_skipped + self.bad_frames < (self.expected_frames or 0):
            log.warning("%s: stream ended after %d of %d frames (truncated?); counts so far are kept",
                        self.path.name, self.frames_read, self.expected_frames)
        elif self.bad_frames:
            log.warning("%s: %d unreadable frames skipped", self.path.name, self.bad_frames)

    def close(self) -> None:
        self._cap.release()

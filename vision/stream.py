"""Live camera input: RTSP/HTTP URL or local device through OpenCV, in real time.

A reader thread keeps only the newest frame, so a slow detector drops frames instead of
falling behind real time. When the stream drops, the reader reconnects with exponential
backoff (0.5 s, 1 s, 2 s ... up to ``max_backoff_s``); after ``give_up_s`` without a frame
iteration ends with a ``VideoError`` (the caller writes the counts made so far).

Example::

    for frame in LiveStream("rtsp://10.0.0.7/stream1"):
        tracks = tracker.update(detector.detect(frame.image), frame.t_s)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import numpy.typing as npt

from phasewise_errors import VideoError
from vision.video import Frame

log = logging.getLogger(__name__)


@contextmanager
def opencv_quiet() -> Iterator[None]:
    """OpenCV's own log silenced meanwhile: a source that cannot be opened makes each of its
    capture backends (V4L2, FFmpeg, obsensor...) print warnings, a dozen lines before our
    one-line error; the caller reports the failure itself."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def open_capture(source: str | int) -> cv2.VideoCapture:
    """``cv2.VideoCapture(source)`` without OpenCV's warnings when it cannot be opened."""
    with opencv_quiet():
        return cv2.VideoCapture(source)


def is_stream_spec(spec: str) -> bool:
    """True for a URL (rtsp://, http://, https://, udp://...) or a device number like "0"."""
    return "://" in spec or spec.isdigit()


class LiveStream:
    """Iterate newest frames of a live source; ``stop()`` (or ``max_duration_s``) ends it."""

    def __init__(self, spec: str, *, give_up_s: float = 60.0, max_backoff_s: float = 8.0,
                 max_duration_s: float | None = None, clock: Callable[[], float] = time.time,
                 opener: Callable[[str | int], cv2.VideoCapture] | None = None) -> None:
        self.spec = spec
        self.give_up_s = give_up_s
        self.max_backoff_s = max_backoff_s
        self.max_duration_s = max_duration_s
        self.clock = clock
        self._open = opener or open_capture
        self._cond = threading.Condition()
        self._latest: tuple[int, float, npt.NDArray[np.uint8]] | None = None
        self._stop = threading.Event()
        self._failed: str | None = None
        self.frames_received = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.fps = 0.0

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def _source(self) -> str | int:
        return int(self.spec) if self.spec.isdigit() else self.spec

    def _reader(self) -> None:
        backoff, last_frame_s = 0.5, self.clock()
        while not self._stop.is_set():
            cap = self._open(self._source())
            if cap is not None and cap.isOpened():
                self.fps = cap.get(cv2.CAP_PROP_FPS) or self.fps
                while not self._stop.is_set():
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    backoff, last_frame_s = 0.5, self.clock()
                    with self._cond:
                        if self._latest is not None:
                            self.frames_dropped += 1   # consumer was busy: newest frame wins
                        self._latest = (self.frames_received, last_frame_s, image)
                        self.frames_received += 1
                        self._cond.notify_all()
                cap.release()
            if self._stop.is_set():
                break
            down_s = self.clock() - last_frame_s
            if down_s >= self.give_up_s:
                self._failed = f"stream {self.spec} gave no frame for {down_s:.0f} s; giving up"
                break
            log.warning("stream %s dropped; reconnecting in %.1f s", self.spec, backoff)
            self.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
        with self._cond:
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        thread = threading.Thread(target=self._reader, name=f"stream:{self.spec}", daemon=True)
        thread.start()
        start_s = self.clock()
        try:
            while not self._stop.is_set():
                if self.max_duration_s is not None and self.clock() - start_s >= self.max_duration_s:
                    break
                with self._cond:
                    while self._latest is None and not self._stop.is_set() and thread.is_alive():
                        self._cond.wait(0.5)
                    item, self._latest = self._latest, None
                if item is None:
                    if not thread.is_alive():
                        break
                    continue
                index, t_s, image = item
                yield Frame(index, t_s, image)
        finally:
            self.stop()
            thread.join(timeout=2.0)
        if self._failed:
            raise VideoError(self._failed)

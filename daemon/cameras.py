"""Camera sources for the daemon and the health check in front of the policy.

A :class:`CameraSource` gives, each step, the newest :class:`~counting.camera_frame.CameraFrame`
of each camera it has one for. :class:`CameraHealth` turns that into exactly one frame per
camera for the policy:

* a new, plausible frame passes (re-stamped with the daemon's time);
* no new frame for ``stale_s``, or an implausible one (wrong shapes, negative or non-finite
  values, more vehicles than fit the view): an outage frame (``ok=False``), on which the
  policy runs plan greens for that approach; counted by reason;
* the same frame again within ``stale_s`` (a source slower than the loop): its occupancy is
  kept but its crossings are dropped, so nothing is counted twice.

:class:`StreamCameraSource` reads one stream (RTSP/HTTP/device/file through the vision
pipeline, ``counting.video_source.VideoCameraSource``) in its own thread and reopens it with
exponential backoff when it fails or ends; crossings of frames the loop has not read yet are
merged so none is lost.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import numpy as np

from daemon.prometheus import Metrics
from counting.camera_frame import CameraFrame, CameraLayout

log = logging.getLogger(__name__)

# how long stopping waits for the stream readers to finish the video step they are on
# (a few detector passes on a busy CPU); SIGTERM's 5 s count up to the flushed state, before this
CLOSE_TIMEOUT_S = 5.0


class CameraSource(Protocol):
    layouts: Mapping[str, CameraLayout]

    def read(self, now_s: float) -> Mapping[str, CameraFrame]:
        """The newest frame of every camera that delivered one since the last call."""
        ...

    def close(self) -> None: ...


def implausible(layout: CameraLayout, frame: CameraFrame) -> str:
    """Why ``frame`` cannot be true for ``layout`` ('' when it can)."""
    n = len(layout.lanes)
    arrays = (frame.present, frame.stopped, frame.queue_m)
    if any(np.shape(a) != (n,) for a in (*arrays, frame.green)):
        return "lane arrays do not match the layout"
    if any(not np.all(np.isfinite(a)) or np.any(np.asarray(a) < 0) for a in arrays):
        return "negative or non-finite values"
    if np.any(frame.present > layout.view_m_per_lane / layout.min_spacing_m + 2):
        return "more vehicles than fit the view"
    if frame.crossing_lane.size and (frame.crossing_lane.min() < 0 or frame.crossing_lane.max() >= n):
        return "crossing on a lane the camera does not have"
    return ""


class CameraHealth:
    """One frame per camera per step, outage frames for stale/implausible/missing cameras."""

    def __init__(self, layouts: Mapping[str, CameraLayout], metrics: Metrics, stale_s: float = 3.0) -> None:
        self.layouts = dict(layouts)
        self.metrics = metrics
        self.stale_s = stale_s
        self._last: dict[str, CameraFrame] = {}
        self._last_new_s: dict[str, float] = {}
        self.up: dict[str, bool] = {cam: False for cam in layouts}
        self.reason: dict[str, str] = {cam: "no frame yet" for cam in layouts}

    def frames(self, now_s: float, delivered: Mapping[str, CameraFrame]) -> dict[str, CameraFrame]:
        out = {}
        for cam, layout in self.layouts.items():
            frame = delivered.get(cam)
            why = ""
            if frame is not None:
                why = implausible(layout, frame) if frame.ok else "camera reports an outage"
                if not why:
                    self._last[cam], self._last_new_s[cam] = frame, now_s
                    out[cam] = dataclasses.replace(frame, time_s=now_s)
            elif cam in self._last and now_s - self._last_new_s[cam] <= self.stale_s:
                empty = np.zeros(0, dtype=np.int64)
                out[cam] = dataclasses.replace(self._last[cam], time_s=now_s, crossing_lane=empty,
                                               crossing_movement=empty, crossing_class=empty)
            else:
                why = "stale" if cam in self._last else "no frame yet"
            if why:
                out[cam] = CameraFrame.empty(layout, now_s, ok=False)
            self._set(cam, not why, why, now_s)
        return out

    def _set(self, cam: str, up: bool, why: str, now_s: float) -> None:
        if up != self.up[cam]:
            if up:
                log.info("camera %s back", cam)
            else:
                log.warning("camera %s out (%s): its approach runs plan greens", cam, why)
        if not up:
            self.metrics.inc("phasewise_camera_faults_total", camera=cam, reason=why.split(" (")[0])
        self.up[cam], self.reason[cam] = up, why
        self.metrics.set("phasewise_camera_up", float(up), camera=cam)


class StreamCameraSource:
    """Frames from one stream read in a thread, reopened with backoff (module docstring).

    ``open_stream()`` returns an iterable of ``{camera_id: CameraFrame}`` (e.g. a
    ``VideoCameraSource``) or raises; ``layouts`` are the cameras it serves.
    """

    def __init__(self, name: str, layouts: Mapping[str, CameraLayout],
                 open_stream: Callable[[], Iterable[Mapping[str, CameraFrame]]], metrics: Metrics,
                 backoff_s: float = 1.0, max_backoff_s: float = 60.0) -> None:
        self.name, self.layouts, self.open_stream, self.metrics = name, dict(layouts), open_stream, metrics
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._lock = threading.Lock()
        self._mailbox: dict[str, CameraFrame] = {}
        self.reader: object = None  # what open_stream() returned last (its annotated_jpeg: thumbnails)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)
        self._thread.start()

    def read(self, now_s: float) -> dict[str, CameraFrame]:
        with self._lock:
            frames, self._mailbox = self._mailbox, {}
        return frames

    def _put(self, frames: Mapping[str, CameraFrame]) -> None:
        with self._lock:
            for cam, frame in frames.items():
                old = self._mailbox.get(cam)
                if old is not None and old.ok and frame.ok:  # unread crossings are kept
                    frame = dataclasses.replace(
                        frame,
                        crossing_lane=np.concatenate([old.crossing_lane, frame.crossing_lane]),
                        crossing_movement=np.concatenate([old.crossing_movement, frame.crossing_movement]),
                        crossing_class=np.concatenate([old.crossing_class, frame.crossing_class]))
                self._mailbox[cam] = frame

    def _run(self) -> None:
        pause = self.backoff_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.reader = reader = self.open_stream()
                for frames in reader:
                    self._put(frames)
                    if self._stop.is_set():
                        return
                why = "stream ended"
            except Exception as exc:  # any decoder/network failure: reopen, never die
                why = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - started > 4 * pause:
                pause = self.backoff_s  # it ran for a while: a new failure starts the backoff over
            self.metrics.inc("phasewise_camera_reconnects_total", stream=self.name)
            log.warning("camera stream %s: %s; reopening in %.0f s", self.name, why, pause)
            if self._stop.wait(pause):
                return
            pause = min(pause * 2, self.max_backoff_s)

    def last_image(self, camera: str) -> bytes | None:
        """The stream's last frame, annotated, as JPEG (the dashboard's thumbnail); None when
        the reader gives no images or has none yet."""
        annotated = getattr(self.reader, "annotated_jpeg", None)
        return annotated() if camera in self.layouts and annotated is not None else None

    def stop(self) -> None:
        """Ask the reader to stop after the frame it is on (:meth:`close` waits for it)."""
        self._stop.set()

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        self._stop.set()
        self._thread.join(timeout_s)


class CombinedSource:
    """Several sources as one (one per stream)."""

    def __init__(self, sources: Iterable[CameraSource]) -> None:
        self.sources = list(sources)
        self.layouts = {cam: lay for s in self.sources for cam, lay in s.layouts.items()}

    def read(self, now_s: float) -> dict[str, CameraFrame]:
        return {cam: f for s in self.sources for cam, f in s.read(now_s).items()}

    def last_image(self, camera: str) -> bytes | None:
        for s in self.sources:
            if camera in s.layouts:
                last_image = getattr(s, "last_image", None)
                return last_image(camera) if last_image is not None else None
        return None

    def close(self) -> None:
        # every reader is told first, then each is waited for within one budget: a reader
        # still inside the decoder or the detector at exit would abort the process
        for s in self.sources:
            stop = getattr(s, "stop", None)
            if stop is not None:
                stop()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for s in self.sources:
            if isinstance(s, StreamCameraSource):
                s.close(max(deadline - time.monotonic(), 0.0))
            else:
                s.close()

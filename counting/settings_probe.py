"""Cheap detection settings only where they lose nothing on the video at hand.

Detecting at a smaller input (320 instead of 640) or on every 2nd frame makes a replay two to
three times faster, and on free-flow clips counts stay exact; on a dense intersection clip the
smaller input loses most two-wheelers. So before a replay uses either, :func:`probe_settings`
measures it on a sample of the video itself: a few short windows spread over the file,
detected at both input sizes, compared with the full setting on the vehicles (car,
motorcycle, bus, truck) standing in the site's lane zones (what is counted):

* **input size**: of the vehicles the full input finds on the sampled frames, the share the
  cheap input finds too (one-to-one, IoU >= ``MATCH_IOU``);
* **stride**: tracked every frame (full input), the share of vehicle steps over ``stride``
  frames where the box predicted at constant velocity (from the step before, as the tracker
  predicts; the box itself for a track too young to have one) overlaps the one found by
  ``STRIDE_IOU``, twice the IoU the tracker needs to associate a detection with its track
  (``vision.tracker.TrackerConfig.match_iou``): what the tracker must bridge when it sees
  every 2nd frame.

The cheap choice is taken only when it is within ``tolerance`` (2 %) of the full one, and
never on a dense scene (on average ``DENSE_VEHICLES_PER_FRAME`` or more vehicles a frame at
the full input: queues of two-wheelers), where misses cost most.

:func:`choose_settings` is the replay's default: the candidates are input 320 for video up
to 640 px wide and every 2nd frame of a file at 20 fps or more; a setting the user gave is
kept; ``--intersection``, a site with intersection features (signal heads, exits, a junction
box), a live stream and a video too short to be worth measuring (under ``MIN_VIDEO_SAMPLES``
samples) get the full setting unmeasured. A dense scene and an intersection site also get
the dense-traffic tracking of ``--intersection`` (``SettingsProbe.dense_traffic``). :class:`SettingsProbe` is what ``summary.json``
records (``settings_probe``).

    probe = choose_settings(VideoFile(path), site, lambda imgsz: load_detector(w, imgsz=imgsz),
                            imgsz=None, detect_every=None, intersection=False)
    probe.imgsz, probe.detect_every, probe.as_dict()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from calibration.geometry import points_in_polygon
from calibration.site import SiteConfig
from vision.classes import VEHICLE_CLASSES
from vision.detections import Detections
from vision.detector import Detector
from vision.tracker import ByteTracker, TrackerConfig, iou_matrix, match
from vision.video import VideoFile

TOLERANCE = 0.02            # the cheap setting may differ from the full one by this share at most
MATCH_IOU = 0.5             # the same vehicle at both input sizes
STRIDE_IOU = 0.4            # a vehicle's boxes this far apart are still one track to the tracker
WINDOWS = 4                 # sampled stretches of video, spread evenly over it
WINDOW_S = 0.5              # seconds per stretch
MIN_VIDEO_SAMPLES = 4       # a video shorter than this many samples is not worth probing: full setting
CHEAP_IMGSZ, CHEAP_UP_TO_WIDTH_PX = 320, 640
CHEAP_STRIDE, CHEAP_FROM_FPS = 2, 20.0
DENSE_VEHICLES_PER_FRAME = 15.0  # in the whole frame (measured: Hanoi 15.8, CA arterial 10.7, NL motorway 5.6)


@dataclass(frozen=True)
class SizeComparison:
    cheap_imgsz: int
    full_imgsz: int
    vehicles_full: int
    vehicles_cheap: int
    matched: int

    @property
    def found_share(self) -> float:
        """Of the vehicles the full input finds, the share the cheap input finds too."""
        return self.matched / self.vehicles_full if self.vehicles_full else 1.0


@dataclass(frozen=True)
class StrideComparison:
    stride: int
    steps: int          # a tracked vehicle in the lanes at frame i and at frame i + stride
    steps_bridged: int  # of them, the predicted box overlapping the found one by STRIDE_IOU or more

    @property
    def bridged_share(self) -> float:
        return self.steps_bridged / self.steps if self.steps else 1.0


@dataclass(frozen=True)
class SettingsProbe:
    """The settings chosen (``imgsz`` None: the model's own) and why, with the measurements.

    ``dense_traffic``: a dense scene or an intersection camera's site: track with
    ``vision.tracker.DENSE_TRAFFIC`` and fuse riders into their two-wheelers
    (``vision.riders``), as ``--intersection`` does."""

    imgsz: int | None
    detect_every: int
    reason: str
    dense_traffic: bool = False
    sample_frames: int = 0
    vehicles_per_frame: float = 0.0
    size: SizeComparison | None = None
    stride: StrideComparison | None = None
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"imgsz": self.imgsz, "detect_every": self.detect_every, "reason": self.reason,
                                  "dense_traffic": self.dense_traffic, "tolerance": TOLERANCE, "sample_frames": self.sample_frames,
                                  "vehicles_per_frame": round(self.vehicles_per_frame, 2),
                                  "wall_s": round(self.wall_s, 2)}
        if self.size is not None:
            out["size"] = {**asdict(self.size), "found_share": round(self.size.found_share, 4)}
        if self.stride is not None:
            out["stride"] = {**asdict(self.stride), "bridged_share": round(self.stride.bridged_share, 4)}
        return out


def sample_windows(path: str, fps: float, frame_count: int, *, windows: int = WINDOWS,
                   window_s: float = WINDOW_S) -> list[list[tuple[float, npt.NDArray[np.uint8]]]]:
    """``windows`` runs of consecutive frames (time s, BGR image), evenly spread over the file."""
    length = max(2, round(window_s * fps))
    cap = cv2.VideoCapture(path)
    runs = []
    try:
        for k in range(windows):
            start = int((k + 0.5) * frame_count / windows - length / 2)
            start = min(max(start, 0), max(frame_count - length, 0))
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            run = []
            for i in range(length):
                ok, image = cap.read()
                if not ok or image is None:
                    break
                run.append(((start + i) / fps, image))
            if run:
                runs.append(run)
    finally:
        cap.release()
    return runs


def in_lanes(dets: Detections, site: SiteConfig) -> Detections:
    """The vehicles whose ground point (box bottom centre) stands in a lane zone of ``site``."""
    dets = dets.with_classes(VEHICLE_CLASSES)
    anchors = dets.anchors()
    inside = np.zeros(len(dets), dtype=bool)
    for lane in site.lanes:
        inside |= points_in_polygon(anchors, lane.polygon)
    return dets[inside]


def compare_sizes(full: Sequence[Detections], cheap: Sequence[Detections], cheap_imgsz: int,
                  full_imgsz: int) -> SizeComparison:
    """Vehicles found at each input on the same frames, and those found at both (IoU >= MATCH_IOU)."""
    matched = 0
    for a, b in zip(full, cheap):
        rows, _ = match(iou_matrix(a.xyxy, b.xyxy), MATCH_IOU)
        matched += len(rows)
    return SizeComparison(cheap_imgsz, full_imgsz, sum(map(len, full)), sum(map(len, cheap)), matched)


def compare_strides(runs: Sequence[Sequence[tuple[float, Detections]]], stride: int, site: SiteConfig,
                    config: TrackerConfig) -> StrideComparison:
    """Each run tracked every frame; the vehicle steps over ``stride`` frames and those whose
    predicted box overlaps the found one by ``STRIDE_IOU`` (module docstring)."""
    steps = bridged = 0
    for run in runs:
        tracker = ByteTracker(config)
        boxes = []
        for t_s, dets in run:
            tracks = in_lanes(tracker.update(dets, t_s), site)
            boxes.append(dict(zip(tracks.tracker_id.tolist(), tracks.xyxy)))
        for i in range(len(boxes) - stride):
            a, b = boxes[i], boxes[i + stride]
            before = boxes[i - stride] if i >= stride else {}
            common = sorted(a.keys() & b.keys())
            if common:
                predicted = np.array([2 * a[k] - before[k] if k in before else a[k] for k in common], dtype=np.float32)
                iou = iou_matrix(predicted, np.array([b[k] for k in common])).diagonal()
                steps += len(common)
                bridged += int((iou >= STRIDE_IOU).sum())
    return StrideComparison(stride, steps, bridged)


def probe_settings(path: str, fps: float, frame_count: int, site: SiteConfig, load: Callable[[int | None], Detector],
                   *, full_imgsz: int | None, cheap_imgsz: int | None, stride: int,
                   tracker_config: TrackerConfig = TrackerConfig(), tolerance: float = TOLERANCE) -> SettingsProbe:
    """The cheap input size (``cheap_imgsz``; None: not a candidate) and stride (``stride`` > 1)
    where the sample shows they lose nothing against the full ones, else the full ones.

    ``load(imgsz)`` returns a detector at that input size (None: the model's own)."""
    started = time.perf_counter()
    sample_len = WINDOWS * max(2, round(WINDOW_S * fps))
    if frame_count < MIN_VIDEO_SAMPLES * sample_len:
        return SettingsProbe(full_imgsz, 1, f"video shorter than {MIN_VIDEO_SAMPLES} x the {sample_len}-frame sample: "
                             "not worth measuring, full setting")
    runs = sample_windows(path, fps, frame_count)
    full_detector = load(full_imgsz)
    full = [[(t_s, full_detector.detect(image).with_classes(VEHICLE_CLASSES)) for t_s, image in run] for run in runs]
    seen = [in_lanes(dets, site) for run in full for _, dets in run]
    per_frame = float(np.mean([len(dets) for run in full for _, dets in run])) if seen else 0.0
    size = stride_cmp = None
    if cheap_imgsz is not None:
        cheap_detector = load(cheap_imgsz)
        cheap = [in_lanes(cheap_detector.detect(image), site) for run in runs for _, image in run]
        size = compare_sizes(seen, cheap, cheap_imgsz, getattr(full_detector, "imgsz", full_imgsz or 0))
    if stride > 1:
        stride_cmp = compare_strides(full, stride, site, tracker_config)
    n, wall = len(seen), time.perf_counter() - started
    if per_frame >= DENSE_VEHICLES_PER_FRAME:
        return SettingsProbe(full_imgsz, 1, f"dense scene ({per_frame:.1f} vehicles a frame): full setting",
                             True, n, per_frame, size, stride_cmp, wall)
    size_ok = size is not None and size.found_share >= 1.0 - tolerance
    stride_ok = stride_cmp is not None and stride_cmp.bridged_share >= 1.0 - tolerance
    reasons = []
    if size is not None:
        reasons.append(f"input {size.cheap_imgsz} found {size.found_share:.1%} of the vehicles input "
                       f"{size.full_imgsz} found ({'taken' if size_ok else 'not taken'})")
    if stride_cmp is not None:
        reasons.append(f"{stride_cmp.bridged_share:.1%} of vehicle steps over {stride_cmp.stride} frames stay "
                       f"associable ({'taken' if stride_ok else 'not taken'})")
    return SettingsProbe(cheap_imgsz if size_ok else full_imgsz, stride if stride_ok else 1,
                         "; ".join(reasons) or "nothing to measure", False, n, per_frame, size, stride_cmp, wall)


def intersection_features(site: SiteConfig) -> list[str]:
    """What makes ``site`` an intersection camera's: signal heads, exit lines, a junction box."""
    return [name for name, present in (("signal heads", site.signal_heads), ("exits", site.exits),
                                       ("junction", site.junction)) if present]


def choose_settings(frames: object, site: SiteConfig, load: Callable[[int | None], Detector], *,
                    imgsz: int | None, detect_every: int | None, intersection: bool) -> SettingsProbe:
    """The replay's input size and stride (module docstring); sets the stride on a ``VideoFile``.

    ``imgsz``/``detect_every``: what the user gave (None: choose). ``load(imgsz)`` gives a
    detector at that input (None: the model's own), e.g. a cache the replay then uses."""
    is_file = isinstance(frames, VideoFile)
    fps = float(getattr(frames, "fps", 0.0) or 0.0)
    width = int(getattr(frames, "width", 0) or 0)
    fixed = getattr(load(imgsz), "fixed_size", None)  # a model with one input size (YOLOX-Nano: 416)
    cheap_imgsz = CHEAP_IMGSZ if imgsz is None and fixed is None and 0 < width <= CHEAP_UP_TO_WIDTH_PX else None
    stride = CHEAP_STRIDE if detect_every is None and is_file and fps >= CHEAP_FROM_FPS else 1
    features = intersection_features(site)
    if cheap_imgsz is None and stride == 1:
        probe = SettingsProbe(imgsz, detect_every or 1, "given or nothing cheaper to try", bool(features))
    elif intersection:
        probe = SettingsProbe(imgsz, detect_every or 1, "--intersection: full setting")
    elif features:
        probe = SettingsProbe(imgsz, detect_every or 1,
                              f"site has intersection features ({', '.join(features)}): full setting", True)
    elif not is_file:
        probe = SettingsProbe(imgsz, detect_every or 1, "live stream: not measured, full setting")
    else:
        assert isinstance(frames, VideoFile)
        measured = probe_settings(str(frames.path), fps, frames.expected_frames or 0, site, load, full_imgsz=imgsz,
                                  cheap_imgsz=cheap_imgsz, stride=stride)
        probe = replace(measured, imgsz=imgsz if imgsz is not None else measured.imgsz,
                        detect_every=detect_every or measured.detect_every)
    if is_file:
        assert isinstance(frames, VideoFile)
        frames.every = probe.detect_every
    return probe

"""``counting.settings_probe``: the cheap replay settings only where a sample shows they lose nothing.

Hand-built detections and a small synthetic video stand in for YOLO, so each rule is checked
on inputs whose answer is known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from calibration.site import line_site
from counting.settings_probe import (
    CHEAP_IMGSZ,
    SettingsProbe,
    choose_settings,
    compare_sizes,
    compare_strides,
    intersection_features,
)
from vision.classes import CAR, MOTORCYCLE
from vision.detections import Detections
from vision.tracker import TrackerConfig
from vision.video import VideoFile

W, H = 320, 240
SITE = line_site(0, 200, W, 200, W, H)  # one lane zone: the whole frame


def dets(boxes: list[tuple[float, float, float, float]], cls: int = CAR) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, dtype=np.float32).reshape(n, 4), np.full(n, 0.9), np.full(n, cls))


class FakeDetector:
    """``vehicles`` boxes a frame at ``imgsz``; below 640 the last ``lost_at_cheap`` are not found."""

    def __init__(self, imgsz: int | None, vehicles: int, lost_at_cheap: int) -> None:
        self.imgsz = imgsz or 640
        self.name = "fake"
        n = vehicles - (lost_at_cheap if self.imgsz < 640 else 0)
        self.boxes = [(10.0 + 30 * (k % 10), 10.0 + 40 * (k // 10), 30.0 + 30 * (k % 10), 40.0 + 40 * (k // 10))
                      for k in range(n)]

    def detect(self, frame: np.ndarray) -> Detections:
        return dets(self.boxes, MOTORCYCLE)


def video(tmp: Path, frames: int, fps: float = 30.0) -> Path:
    path = tmp / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for i in range(frames):
        writer.write(np.full((H, W, 3), i % 255, dtype=np.uint8))
    writer.release()
    return path


def loader(vehicles: int, lost_at_cheap: int):  # type: ignore[no-untyped-def]
    made: dict = {}

    def load(imgsz: int | None) -> FakeDetector:
        return made.setdefault(imgsz, FakeDetector(imgsz, vehicles, lost_at_cheap))

    return load


def test_sizes_match_one_to_one() -> None:
    full = [dets([(0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)])]
    cheap = [dets([(1, 0, 11, 10), (40, 0, 50, 10), (100, 100, 110, 110)])]  # one missed, one elsewhere
    size = compare_sizes(full, cheap, 320, 640)
    assert (size.vehicles_full, size.vehicles_cheap, size.matched) == (3, 3, 2)
    assert abs(size.found_share - 2 / 3) < 1e-9


def test_strides_bridge_steady_vehicles_and_not_erratic_ones() -> None:
    rng = np.random.default_rng(1)

    def run(jitter_px: float) -> list[tuple[float, Detections]]:
        # a 30 px car moving 3 px a frame; its detected box jumps by ``jitter_px`` (std) a frame
        x = 50 + 3.0 * np.arange(15) + rng.normal(0.0, jitter_px, 15)
        return [(i / 30, dets([(x[i], 100, x[i] + 30, 120)])) for i in range(15)]

    steady = compare_strides([run(0.5)], 2, SITE, TrackerConfig(match_iou=0.0))
    erratic = compare_strides([run(12.0)], 2, SITE, TrackerConfig(match_iou=0.0))
    assert steady.steps >= 10 and steady.bridged_share == 1.0
    assert erratic.steps >= 5 and erratic.bridged_share < 0.9


def test_cheap_settings_are_taken_only_within_the_tolerance(tmp_path: Path) -> None:
    clip = video(tmp_path, 300)
    # 10 vehicles a frame, none lost at 320, all standing still: both cheap settings taken
    taken = choose_settings(VideoFile(clip), SITE, loader(10, 0), imgsz=None, detect_every=None, intersection=False)
    assert (taken.imgsz, taken.detect_every) == (CHEAP_IMGSZ, 2), taken.reason
    assert taken.size is not None and taken.size.found_share == 1.0 and taken.sample_frames == 60
    assert taken.as_dict()["stride"]["bridged_share"] == 1.0  # type: ignore[index]
    # 1 of 10 lost at 320 (10 %): the full input, the stride still taken
    lost = VideoFile(clip)
    probe = choose_settings(lost, SITE, loader(10, 1), imgsz=None, detect_every=None, intersection=False)
    assert (probe.imgsz, probe.detect_every, lost.every) == (None, 2, 2) and "90.0%" in probe.reason
    # a dense scene (20 vehicles a frame): full setting even though nothing is lost
    dense = choose_settings(VideoFile(clip), SITE, loader(20, 0), imgsz=None, detect_every=None, intersection=False)
    assert (dense.imgsz, dense.detect_every) == (None, 1) and dense.reason.startswith("dense scene")
    assert dense.dense_traffic and not taken.dense_traffic and not probe.dense_traffic  # tracked as --intersection


def test_full_setting_unmeasured_where_measuring_is_not_right(tmp_path: Path) -> None:
    never = loader(10, 0)
    short = choose_settings(VideoFile(video(tmp_path, 200)), SITE, never, imgsz=None, detect_every=None,
                            intersection=False)
    assert (short.imgsz, short.detect_every, short.sample_frames) == (None, 1, 0) and "shorter" in short.reason
    clip = video(tmp_path, 300)
    given = choose_settings(VideoFile(clip), SITE, never, imgsz=320, detect_every=3, intersection=False)
    assert (given.imgsz, given.detect_every, given.sample_frames) == (320, 3, 0)
    inter = choose_settings(VideoFile(clip), SITE, never, imgsz=None, detect_every=None, intersection=True)
    assert (inter.imgsz, inter.detect_every) == (None, 1) and inter.reason.startswith("--intersection")
    site = SITE.model_copy(update={"junction": [(0, 0), (100, 0), (100, 100)]})
    assert intersection_features(site) == ["junction"] and intersection_features(SITE) == []
    feat = choose_settings(VideoFile(clip), site, never, imgsz=None, detect_every=None, intersection=False)
    assert (feat.imgsz, feat.detect_every) == (None, 1) and "intersection features (junction)" in feat.reason
    assert feat.dense_traffic and not short.dense_traffic

    class Live:  # a live stream: frames as they come, no sampling ahead
        fps, width = 30.0, W

    live = choose_settings(Live(), SITE, never, imgsz=None, detect_every=None, intersection=False)
    assert isinstance(live, SettingsProbe) and (live.imgsz, live.detect_every) == (None, 1)

"""End-to-end vision throughput and count accuracy on the shared clips (2-core CPU).

For each model x backend x input size: decode + detect + track + count over both clips in
../shared/videos/, frames per second end to end, and the count error against the hand
counts in benchmarks/vision_ground_truth.yaml. The baseline is a plain Ultralytics
``model.track(frame, persist=True)`` loop (its own ByteTrack) feeding the same counters.

    .venv/bin/python benchmarks/vision_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration.site import load_site  # noqa: E402
from counting.pipeline import run_pipeline  # noqa: E402
from vision.adapters.ultralytics import from_ultralytics  # noqa: E402
from vision.classes import ROAD_USER_CLASSES  # noqa: E402
from vision.detections import Detections  # noqa: E402
from vision.detector import load_detector  # noqa: E402
from vision.video import VideoFile  # noqa: E402

SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
OV = SHARED / "models" / "yolo11n_int8_openvino_model"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
GT = yaml.safe_load((ROOT / "benchmarks" / "vision_ground_truth.yaml").read_text())


class UltralyticsTrackLoop:
    """The baseline: ``model.track(frame, persist=True)``; ``detect`` returns tracked boxes."""

    name = "ultralytics.track"

    def __init__(self, weights: Path, imgsz: int) -> None:
        from ultralytics import YOLO

        from vision.adapters.torchvision_shim import ensure_torchvision_importable

        ensure_torchvision_importable()
        self.model = YOLO(str(weights), task="detect")
        self.imgsz = imgsz

    def detect(self, frame: np.ndarray) -> Detections:
        r = self.model.track(frame, persist=True, imgsz=self.imgsz, classes=list(ROAD_USER_CLASSES),
                             tracker="bytetrack.yaml", agnostic_nms=True, verbose=False)[0]
        d = from_ultralytics(r)
        return d[d.tracker_id >= 0]


class PassThrough:
    """Tracker stand-in for the baseline, whose detections already carry track ids."""

    def update(self, detections: Detections, t_s: float) -> Detections:
        return detections


def run_config(make_detector, every: int, clips: list[str], max_frames: int | None) -> dict:
    frames = 0
    seconds = 0.0
    errors = {}
    for clip in clips:
        gt = GT[clip]
        site = load_site(ROOT / gt["site"])
        detector = make_detector()          # fresh tracker state per clip
        tracker = PassThrough() if isinstance(detector, UltralyticsTrackLoop) else None
        video = VideoFile(SHARED / "videos" / gt["video"], max_frames=max_frames, every=every)
        t0 = time.perf_counter()
        result = run_pipeline(video, detector, site, tracker=tracker)  # type: ignore[arg-type]
        seconds += time.perf_counter() - t0
        frames += result.frames
        got = result.counter.totals()
        lane_err = {lane: got.get(lane, 0) - n for lane, n in gt["lanes"].items()}
        errors[clip] = (sum(got.values()), gt["total"], lane_err)
    return {"fps": frames / seconds, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first 150 frames per clip (errors then meaningless)")
    args = parser.parse_args()
    for path in (OV, YOLOX):
        if not path.exists():
            sys.exit(f"missing model {path}: see ../shared/README.md")
    clips = ["nl_highway_overpass", "ca_arterial"]
    max_frames = 150 if args.quick else None
    configs = [
        ("YOLO11n int8", "ultralytics model.track (baseline)", 640, 1, lambda: UltralyticsTrackLoop(OV, 640)),
        ("YOLO11n int8", "ultralytics predict + phasewise tracker", 640, 1, lambda: load_detector(OV, backend="ultralytics", imgsz=640)),
        ("YOLO11n int8", "lean OpenVINO", 640, 1, lambda: load_detector(OV, imgsz=640)),
        ("YOLO11n int8", "lean OpenVINO, detect every 2nd frame", 640, 2, lambda: load_detector(OV, imgsz=640)),
        ("YOLO11n int8", "ultralytics model.track (baseline)", 320, 1, lambda: UltralyticsTrackLoop(OV, 320)),
        ("YOLO11n int8", "lean OpenVINO", 320, 1, lambda: load_detector(OV, imgsz=320)),
        ("YOLOX-Nano", "lean ONNX Runtime", 416, 1, lambda: load_detector(YOLOX)),
        ("YOLOX-Nano", "lean ONNX Runtime, detect every 2nd frame", 416, 2, lambda: load_detector(YOLOX)),
    ]
    print(f"cpu cores: {os.cpu_count()}, clips: {', '.join(clips)} (1280x720 and 640x360), "
          f"{'first 150 frames' if args.quick else 'all frames'}")
    header = (f"| {'model':<13}| {'backend':<42}| {'input':>5} | {'fps e2e':>7} | {'vs base':>7} | "
              f"{'NL 720p count (err)':>20} | {'CA 360p count (err)':>20} | {'sum abs lane err':>16} |")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    base_fps = 0.0
    lane_rows = []
    for model, backend, size, every, make in configs:
        res = run_config(make, every, clips, max_frames)
        cells, lane_abs, gt_total = [], 0, 0
        for clip in clips:
            got, want, lane_err = res["errors"][clip]
            cells.append(f"{got}/{want} ({(got - want) / want:+.0%})")
            lane_abs += sum(abs(e) for e in lane_err.values())
            gt_total += want
            lane_rows.append((f"{model}, {backend}, {size}", clip, lane_err))
        if "baseline" in backend and size == 640:
            base_fps = res["fps"]
        ratio = f"x{res['fps'] / base_fps:.1f}" if base_fps else "-"
        print(f"| {model:<13}| {backend:<42}| {size:>5} | {res['fps']:>7.1f} | {ratio:>7} | {cells[0]:>20} | "
              f"{cells[1]:>20} | {f'{lane_abs}/{gt_total} ({lane_abs / gt_total:.0%})':>16} |", flush=True)
    print("\nper-lane error (counted - hand count):")
    for name, clip, lane_err in lane_rows:
        print(f"  {name:<75} {clip:<20} " + "  ".join(f"{k}:{v:+d}" for k, v in lane_err.items()))


if __name__ == "__main__":
    main()

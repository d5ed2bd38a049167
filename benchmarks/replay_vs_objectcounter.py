"""Default ``phasewise replay`` against Ultralytics' ``solutions.ObjectCounter``: same model, same clips.

For each free-flow clip in ``$PHASEWISE_SHARED/videos`` (hand counts in
``benchmarks/vision_ground_truth.yaml``):

* ``ObjectCounter`` with its defaults (``model.track`` with its tracker on every frame,
  annotation included, ``show=False``), the counting region the line through the site's stop
  lines, the same YOLO11n INT8 OpenVINO model; frames per second of the loop (decode
  included, model loading not) and its count (in + out);
* ``phasewise replay`` run as a user runs it (the ``phasewise`` entry point in a subprocess)
  with its defaults, then with each explicit ``--imgsz`` / ``--detect-every`` setting; frames
  per second from its ``summary.json`` (decode, detect, track, count) and its count. The
  defaults are measured on the clip first (``counting.settings_probe``): their row gives the
  fps with that sample's time included as well (``--only-defaults``: that row alone).

Both sides run one after the other on the same machine, so the ratio holds under load even
when the absolute fps do not.

    .venv/bin/python benchmarks/replay_vs_objectcounter.py [--clips nl_highway_overpass,ca_arterial]

Measured (2 cores, load average 3-6 from other work, Ultralytics 8.4.190, its default tracker):

| clip | ObjectCounter | replay defaults | vs | 640, every frame | 640, every 2nd | 320, every frame | 320, every 2nd |
|---|---|---|---|---|---|---|---|
| NL 1280x720 @30 | 21.6 fps, 11/11 | 58.8 fps (640, 2nd), 11/11 | x2.7 | x1.7 | x2.9 | x3.4 | x5.1 |
| CA 640x360 @30 | 21.1 fps, 27/27 | 115.4 fps (320, 2nd), 27/27 | x5.5 | x1.4 | x2.6 | x3.1 | x5.5 |

Every setting counts both clips exactly (totals against the hand counts). The "replay
defaults" column predates the defaults measured on the input (``counting.settings_probe``),
which now choose 640 every 2nd frame on both clips; README "Vision" has their measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration.site import load_site  # noqa: E402
from vision.classes import ROAD_USER_CLASSES  # noqa: E402

SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
GT = yaml.safe_load((ROOT / "benchmarks" / "vision_ground_truth.yaml").read_text())
PHASEWISE = Path(sys.executable).parent / "phasewise"
SETTINGS = [(), ("--imgsz", "640", "--detect-every", "1"), ("--imgsz", "640", "--detect-every", "2"),
            ("--imgsz", "320", "--detect-every", "1"), ("--imgsz", "320", "--detect-every", "2")]


def object_counter(video: Path, line: list[tuple[int, int]]) -> tuple[float, int]:
    """(fps, vehicles counted) of Ultralytics' ObjectCounter over the whole clip."""
    from ultralytics import solutions

    from vision.adapters.torchvision_shim import ensure_torchvision_importable

    ensure_torchvision_importable()
    counter = solutions.ObjectCounter(model=str(MODEL), region=line, show=False, verbose=False,
                                      classes=list(ROAD_USER_CLASSES))
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    counter.process(frame)  # the first call loads and compiles the model
    frames, t0 = 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        counter.process(frame)
        frames += 1
    seconds = time.perf_counter() - t0
    cap.release()
    return frames / seconds, counter.in_count + counter.out_count


def replay(video: Path, site: Path, settings: tuple[str, ...]) -> tuple[float, int, dict]:
    """(fps, vehicles counted, summary) of ``phasewise replay`` with ``settings``."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([str(PHASEWISE), "replay", str(video), "--site", str(site), "--out", out, "--quiet",
                        "--weights", str(MODEL), *settings], check=True, capture_output=True, text=True)
        summary = json.loads((Path(out) / "summary.json").read_text())
    return summary["fps"], summary["vehicles_total"], summary


def counting_line(site_file: Path) -> list[tuple[int, int]]:
    """The line through every lane's stop line, left to right."""
    points = [p for lane in load_site(site_file).lanes for p in lane.stop_line]
    y = round(sum(p[1] for p in points) / len(points))
    return [(round(min(p[0] for p in points)), y), (round(max(p[0] for p in points)), y)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="nl_highway_overpass,ca_arterial")
    parser.add_argument("--only-defaults", action="store_true", help="ObjectCounter and the defaults only")
    args = parser.parse_args()
    print(f"model {MODEL.name}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| clip | input | tool | settings | fps | vs ObjectCounter | count / hand |")
    print("|---|---|---|---|---|---|---|")
    for clip in args.clips.split(","):
        gt = GT[clip]
        video, site = SHARED / "videos" / gt["video"], ROOT / gt["site"]
        cap = cv2.VideoCapture(str(video))
        size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        size += f" @{cap.get(cv2.CAP_PROP_FPS):.0f}"
        cap.release()
        base_fps, base_count = object_counter(video, counting_line(site))
        print(f"| {clip} | {size} | ObjectCounter | defaults | {base_fps:.1f} | x1.0 | {base_count}/{gt['total']} |",
              flush=True)
        for settings in SETTINGS[:1] if args.only_defaults else SETTINGS:
            fps, count, summary = replay(video, site, settings)
            label = " ".join(settings)
            if not settings:
                probe_s = summary["settings_probe"]["wall_s"]
                with_probe = summary["frames"] / (summary["wall_s"] + probe_s)
                label = (f"defaults (= --imgsz {summary['imgsz']} --detect-every {summary['detect_every']}; "
                         f"{with_probe:.1f} fps, x{with_probe / base_fps:.1f} with the {probe_s:.1f} s sample)")
            print(f"| {clip} | {size} | phasewise replay | {label} | {fps:.1f} | x{fps / base_fps:.1f} | "
                  f"{count}/{gt['total']} |", flush=True)


if __name__ == "__main__":
    main()

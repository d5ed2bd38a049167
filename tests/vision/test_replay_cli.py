"""End-to-end: ``phasewise replay`` and ``phasewise site draw`` on the real clips, and bad input."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

_SHARED = Path(os.environ.get("PHASEWISE_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
OV_MODEL = _SHARED / "models" / "yolo11n_int8_openvino_model"
YOLOX_MODEL = _SHARED / "models" / "yolox_nano.onnx"
NL_VIDEO = _SHARED / "videos" / "nl_highway_overpass.mp4"
CA_VIDEO = _SHARED / "videos" / "ca_arterial.mp4"

ROOT = Path(__file__).resolve().parents[2]


def phasewise(*args, timeout=120):
    return subprocess.run([sys.executable, "-c", "from phasewise.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_replay_with_site_writes_counts_queue_and_video(shared_data, tmp_path):
    # Frames 0-200 of the arterial: hand count 9 vehicles at y=250 (benchmarks/vision_ground_truth.yaml).
    r = phasewise("replay", str(CA_VIDEO), "--site", "calibration/sites/ca_arterial.yaml", "--out", str(tmp_path),
                  "--max-frames", "200", "--bin-s", "60", "--video-out", "--quiet", "--imgsz", "320", "--detect-every", "2")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "counts.csv")))
    assert {"bin_start", "lane", "class", "count", "pcu"} <= set(rows[0])
    by_lane = {}
    for row in rows:
        by_lane[row["lane"]] = by_lane.get(row["lane"], 0) + int(row["count"])
    assert by_lane == {"sb_1": 0, "sb_2": 2, "sb_3": 4, "sb_4": 3}
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the settings given (the defaults are measured on the input: tests/vision/test_replay_defaults.py)
    assert (summary["imgsz"], summary["detect_every"], summary["frames_detected"]) == (320, 2, 100)
    queue = list(csv.DictReader(open(tmp_path / "queue.csv")))
    assert len(queue) == 100 * 4 and queue[0]["queue_m"] != ""
    cap = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 100


def test_replay_quick_line_count(shared_data, tmp_path):
    r = phasewise("replay", str(NL_VIDEO), "--line", "263,450,1054,450", "--out", str(tmp_path),
                  "--max-frames", "140", "--detect-every", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["vehicles_by_lane"] == {"line": 5}       # hand count: crossings at ~57, 57, 95, 128, 130


def test_missing_video_is_one_line_error(tmp_path):
    r = phasewise("replay", str(tmp_path / "none.mp4"), "--line", "0,1,2,3", "--out", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "video not found" in r.stderr


def test_truncated_video_keeps_counts_or_fails_clearly(shared_data, tmp_path):
    # The clip's index (moov) is at its end: cut in half, it cannot be opened at all.
    cut = tmp_path / "cut.mp4"
    data = CA_VIDEO.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    r = phasewise("replay", str(cut), "--site", "calibration/sites/ca_arterial.yaml", "--out", str(tmp_path / "o"),
                  "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("phasewise: error: cannot open video")
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "o").exists()


def test_video_ending_early_is_a_partial_run(shared_data, tmp_path):
    # This clip's index is at its start: cut short, it reads until the data ends.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(NL_VIDEO.read_bytes()[:600_000])
    r = phasewise("replay", str(cut), "--line", "263,450,1054,450", "--detect-every", "5", "--out",
                  str(tmp_path / "o"), "--quiet")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "cut.mp4 ended after" in r.stderr and "partial counts written" in r.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["partial"] is True and summary["error"].startswith("cut.mp4 ended after")
    assert 0 < summary["frames"] < 335


def test_bad_site_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    site = (ROOT / "calibration/sites/ca_arterial.yaml").read_text()
    bad.write_text(site.replace("[[220, 60], [287, 60], [137, 360], [0, 360], [0, 235]]",
                                "[[220, 60], [137, 360], [287, 60], [0, 360]]"))
    r = phasewise("replay", str(CA_VIDEO), "--site", str(bad), "--out", str(tmp_path))
    assert r.returncode == 2
    assert "lanes.0.polygon" in r.stderr and "self-intersecting" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_missing_weights_is_one_line_error(shared_data, tmp_path):
    r = phasewise("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--weights", str(tmp_path / "w.onnx"),
                  "--out", str(tmp_path))
    assert r.returncode == 2 and "detector weights not found" in r.stderr


def test_site_draw_png(shared_data, tmp_path):
    out = tmp_path / "site.png"
    r = phasewise("site", "draw", "calibration/sites/nl_highway_overpass.yaml", "--frame", str(NL_VIDEO),
                  "--out", str(out))
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3)
    raw = next(iter(__import__("vision.video", fromlist=["VideoFile"]).VideoFile(NL_VIDEO))).image
    assert (img != raw).any(axis=2).mean() > 0.2            # lanes tinted over a large part of the frame


def test_replay_intersection_outputs_and_one_count_definition(shared_data, tmp_path):
    video = _SHARED / "videos" / "hanoi_intersection.mp4"
    r = phasewise("replay", str(video), "--site", "calibration/sites/hanoi_intersection.yaml", "--out", str(tmp_path),
                  "--intersection", "--conf", "0.15", "--max-frames", "120", "--start", "2022-09-25T16:15:44",
                  "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    counts = sum(int(row["count"]) for row in csv.DictReader(open(tmp_path / "counts.csv")))
    tmc = list(csv.DictReader(open(tmp_path / "turning_movements.csv")))
    # one definition: vehicles crossing a stop line (riders' person boxes never count)
    assert summary["vehicles_total"] == counts == sum(int(tmc[0][k]) for k in ("NBL", "NBT", "NBR", "NBU"))
    assert 9 <= counts <= 11              # hand labels: 10 vehicles in frames 0-120
    assert (summary["imgsz"], summary["detect_every"]) == (640, 1)   # packed two-wheelers: every frame at 640
    assert tmc[0]["DATE"] == "2022-09-25" and tmc[0]["TIME"] == "16:15"
    assert (tmp_path / "queue_profile.png").stat().st_size > 10_000
    discharge = list(csv.DictReader(open(tmp_path / "discharge.csv")))
    assert discharge[0]["onset_seen"] == "False" and int(discharge[0]["served_veh"]) >= 4


def test_intersection_without_site_is_one_line_error(tmp_path):
    r = phasewise("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--intersection", "--out", str(tmp_path))
    assert r.returncode == 2 and "--intersection needs --site" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_site_draw_shows_crosswalk_waiting_areas(shared_data, tmp_path):
    site = yaml.safe_load(Path("calibration/sites/nl_highway_overpass.yaml").read_text())
    site["crosswalks"] = [{"crossing": ":J0_c0", "waiting_areas": [[[1100, 500], [1250, 500], [1250, 650], [1100, 650]]]}]
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site))
    r = phasewise("site", "draw", str(tmp_path / "site.yaml"), "--frame", str(NL_VIDEO), "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0, r.stderr
    edge = cv2.imread(str(tmp_path / "s.png"))[560:600, 1249]  # the area's right edge, drawn yellow (BGR)
    assert ((edge[:, 0] < 80) & (edge[:, 1] > 200) & (edge[:, 2] > 200)).all(), edge

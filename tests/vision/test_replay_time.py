"""``phasewise replay``'s time stamps: the video's own creation time, else relative times; and a
queue-profile title that says only what the plot draws."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "calibration" / "sites" / "hanoi_intersection.yaml"
MP4_EPOCH_TO_UNIX_S = 2_082_844_800


def replay(video: Path, site: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", "replay", str(video), "--site", str(site),
                           "--out", str(out), "--intersection", "--conf", "0.15", "--max-frames", "12", "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def with_creation_time(video: Path, copy: Path, when: datetime) -> Path:
    """``video`` copied with ``when`` as its moov/mvhd creation time (a version 0 box)."""
    data = bytearray(video.read_bytes())
    at = data.index(b"mvhd")
    assert data[at + 4] == 0, "expected a version 0 mvhd"
    data[at + 8:at + 12] = struct.pack(">I", int(when.timestamp()) + MP4_EPOCH_TO_UNIX_S)
    copy.write_bytes(bytes(data))
    return copy


def test_relative_times_without_a_recorded_time_and_the_container_time_when_there_is_one(shared_data, tmp_path):
    clip = shared_data / "videos" / "hanoi_intersection.mp4"  # records no creation time (zero)
    no_heads = yaml.safe_load(SITE.read_text())
    no_heads.pop("signal_heads", None)
    (tmp_path / "no_heads.yaml").write_text(yaml.safe_dump(no_heads))
    r = replay(clip, tmp_path / "no_heads.yaml", tmp_path / "relative")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "relative" / "summary.json").read_text())
    assert summary["start"] is None and summary["start_from"] == "relative"
    tmc = list(csv.DictReader(open(tmp_path / "relative" / "turning_movements.csv")))
    assert [(row["DATE"], row["TIME"]) for row in tmc] == [("relative", "+00:00")]  # not today's clock
    title = Image.open(tmp_path / "relative" / "queue_profile.png").text["Title"]
    assert "stopped per lane" in title and "shading" not in title and "signal" not in title

    when = datetime(2022, 9, 25, 9, 15, 44, tzinfo=timezone.utc)
    stamped = with_creation_time(clip, tmp_path / "stamped.mp4", when)
    r = replay(stamped, SITE, tmp_path / "stamped")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "stamped" / "summary.json").read_text())
    assert summary["start"] == "2022-09-25T09:15:44" and summary["start_from"] == "container creation_time (UTC)"
    tmc = list(csv.DictReader(open(tmp_path / "stamped" / "turning_movements.csv")))
    assert [(row["DATE"], row["TIME"]) for row in tmc] == [("2022-09-25", "09:15")]
    title = Image.open(tmp_path / "stamped" / "queue_profile.png").text["Title"]
    assert "shading: signal head" in title

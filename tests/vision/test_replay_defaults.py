"""``phasewise replay``'s default settings measured on the input itself (``counting.settings_probe``),
through the real entry point: cheap only where the sample shows it loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HANOI_SITE = ROOT / "calibration" / "sites" / "hanoi_intersection.yaml"


def replay(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "replay", *args, "--quiet"], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "summary.json").read_text())


def test_defaults_follow_what_the_sample_shows(shared_data: Path, tmp_path: Path) -> None:
    videos = shared_data / "videos"
    # the case: the Hanoi clip (640x480, dense two-wheelers) with a site file that has
    # lanes only. Input 320 used to be the default here and lost most two-wheelers.
    plain = yaml.safe_load(HANOI_SITE.read_text())
    for key in ("signal_heads", "exits", "junction"):
        plain.pop(key)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(plain))
    s = replay(str(videos / "hanoi_intersection.mp4"), "--site", str(tmp_path / "plain.yaml"), "--conf", "0.15",
               "--max-frames", "60", "--out", str(tmp_path / "hanoi"))
    probe = s["settings_probe"]
    assert probe["sample_frames"] == 12 and probe["size"]["cheap_imgsz"] == 320
    # at --conf 0.15 about 23 vehicles a frame: dense, and input 320 finds about a quarter of them
    assert probe["size"]["found_share"] < 0.98 and probe["reason"].startswith("dense scene")
    assert probe["dense_traffic"] and probe["vehicles_per_frame"] >= 15
    assert (s["imgsz"], s["detect_every"]) == (640, 1)  # 6 fps: every frame was never in question

    # the same clip with its intersection features: the full setting, unmeasured
    s = replay(str(videos / "hanoi_intersection.mp4"), "--site", str(HANOI_SITE), "--max-frames", "6",
               "--out", str(tmp_path / "hanoi_site"))
    assert s["settings_probe"]["reason"].startswith("site has intersection features (signal heads, exits, junction)")
    assert (s["imgsz"], s["detect_every"], s["settings_probe"]["sample_frames"]) == (640, 1, 0)
    assert s["settings_probe"]["dense_traffic"]

    # the free-flow arterial at 30 fps: every 2nd frame keeps every vehicle associable, but
    # input 320 misses far vehicles in the lane zones, so 640 it is
    s = replay(str(videos / "ca_arterial.mp4"), "--site", "calibration/sites/ca_arterial.yaml", "--max-frames", "240",
               "--out", str(tmp_path / "ca"))
    probe = s["settings_probe"]
    assert probe["stride"]["bridged_share"] >= 0.98 and probe["size"]["found_share"] < 0.98
    assert (s["imgsz"], s["detect_every"], s["frames_detected"]) == (640, 2, 120)
    assert not probe["dense_traffic"]

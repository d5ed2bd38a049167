"""End-to-end: ``phasewise site suggest`` on 20 s of the Hanoi clip, the proposal read back by
``site draw`` and ``replay --site``, and bad input. One process runs every command line
(``tests/phasewise/cli_batch.py``): the CLI starts once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.geometry import point_segment_distance
from calibration.site import load_site
from tests.phasewise.cli_batch import run_batch
from tests.vision.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]
HANOI = SHARED / "videos" / "hanoi_intersection.mp4"
HAND_MADE = ROOT / "calibration" / "sites" / "hanoi_intersection.yaml"
# Measured: on these 20 s the proposed stop line lies 2, 15 and 28 px from the middle of the
# hand-made lanes' stop lines (on the whole clip: benchmarks/site_suggest.py, README).
STOP_LINE_PX = 30.0


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("suggest")
    blank = tmp / "blank.mp4"                     # 2 s of an empty road: no vehicle to track
    writer = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    for _ in range(20):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    (tmp / "binary.mp4").write_bytes(bytes(range(256)) * 8)
    (tmp / "c.yaml").write_text("earlier: kept\n")      # a failed run leaves an earlier file as it was
    (tmp / "folder.yaml").mkdir()
    site = tmp / "site.yaml"
    lines = [
        ["site", "suggest", str(HANOI), "--seconds", "20", "--out", str(site), "--quiet"],
        ["site", "draw", str(site), "--frame", str(HANOI), "--out", str(tmp / "site.png")],
        ["replay", str(HANOI), "--site", str(site), "--max-frames", "6", "--out", str(tmp / "replay"), "--quiet"],
        ["site", "suggest", str(tmp / "none.mp4"), "--out", str(tmp / "a.yaml")],
        ["site", "suggest", str(tmp / "binary.mp4"), "--out", str(tmp / "b.yaml")],
        ["site", "suggest", str(blank), "--out", str(tmp / "c.yaml"), "--quiet"],
        ["site", "suggest", str(HANOI), "--out", str(tmp / "d.txt")],
        ["site", "suggest", str(HANOI), "--seconds", "0", "--out", str(tmp / "e.yaml")],
        ["site", "suggest", str(HANOI), "--imgsz", "33", "--out", str(tmp / "f.yaml")],
        ["site", "suggest", str(HANOI), "--out", str(tmp / "folder.yaml")],
    ]
    results = run_batch([(line, b"") for line in lines], cwd=ROOT, per_command_s=120)
    return tmp, results


def test_proposed_stop_lines_lie_where_the_hand_made_ones_are(runs):
    tmp, results = runs
    suggest = results[0]
    assert suggest.returncode == 0, suggest.stderr
    assert "wrote" in suggest.stdout and "northbound" in suggest.stdout
    site = load_site(tmp / "site.yaml")
    assert site.frame_size == (640, 480) and len(site.lanes) >= 2
    assert {lane.approach for lane in site.lanes} == {"northbound"}
    assert all(lane.direction[1] < 0 for lane in site.lanes)      # up the frame, into the junction
    hand = load_site(HAND_MADE)
    for lane in hand.lanes:
        if lane.id == "nb_r":  # the right-turn slip's counting line, not a stop line
            continue
        mid = np.mean(np.asarray(lane.stop_line, float), axis=0)
        nearest = min(float(point_segment_distance(mid, *p.stop_line)[0]) for p in site.lanes)
        assert nearest <= STOP_LINE_PX, (lane.id, nearest)


def test_the_proposal_is_a_site_file_draw_and_replay_accept(runs):
    tmp, results = runs
    draw, replay = results[1], results[2]
    assert draw.returncode == 0, draw.stderr
    assert cv2.imread(str(tmp / "site.png")).shape == (480, 640, 3)
    assert replay.returncode == 0, replay.stderr
    lanes = {lane.id for lane in load_site(tmp / "site.yaml").lanes}
    with open(tmp / "replay" / "queue.csv") as fh:
        queue = list(csv.DictReader(fh))
    assert {row["lane"] for row in queue} == lanes and len(queue) == 6 * len(lanes)
    summary = json.loads((tmp / "replay" / "summary.json").read_text())
    assert set(summary["vehicles_by_lane"]) <= lanes


@pytest.mark.parametrize(("index", "code", "message"), [
    (3, 2, "video not found"),
    (4, 2, "binary.mp4"),
    (5, 2, "too few moving vehicles"),
    (6, 2, "give a .yaml file name"),
    (7, 2, "'--seconds'"),
    (8, 2, "not a multiple of 32"),
    (9, 2, "is a folder"),
])
def test_bad_input_is_one_line(runs, index, code, message):
    tmp, results = runs
    assert (tmp / "c.yaml").read_text() == "earlier: kept\n"
    r = results[index]
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    if code == 2 and "'--" not in message and "multiple" not in message:
        assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("phasewise: error:"), r.stderr

"""End to end on the real intersection clip: video -> CameraFrames -> estimator -> adaptive policy.

One pass of the detector over ../shared/videos/hanoi_intersection.mp4 (384 frames, ~15-30 s
on 2 cores) is shared by every test here. Hand labels: benchmarks/labels/hanoi_intersection.yaml.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from calibration.site import load_site
from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from controllers.backend import PhaseCommand, SignalStatus
from counting.camera_frame import CameraFrame, CameraLayout
from counting.estimator import DemandEstimator
from counting.intersection_report import write_intersection_report
from counting.video_source import VideoCameraSource
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
from vision.classes import CLASS_NAMES
from vision.detector import load_detector
from vision.video import VideoFile

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
VIDEO = SHARED / "videos" / "hanoi_intersection.mp4"
LABELS = yaml.safe_load((ROOT / "benchmarks" / "labels" / "hanoi_intersection.yaml").read_text())
TLS = "giangvo_langha"
STEP_S = 0.5
EB_QUEUE_VEH = 5  # the cross street has no camera here: a standing queue of 5 is assumed on it


@pytest.fixture(scope="module")
def played():
    for p in (VIDEO, SHARED / "models" / "yolo11n_int8_openvino_model"):
        if not p.exists():
            pytest.fail(f"shared data missing: {p} (see ../shared/README.md)")
    site = load_site(ROOT / "calibration" / "sites" / "hanoi_intersection.yaml")
    source = VideoCameraSource(VideoFile(VIDEO), load_detector(None, conf=0.15), site, step_s=STEP_S,
                               zoom_detector=load_detector(None, imgsz=1280, conf=0.15))
    steps = [(frames, dict(source.lights)) for frames in source]
    return source, steps


def test_stop_line_crossings_against_hand_labels(played):
    source, _ = played
    got = Counter(CLASS_NAMES[m.class_id] for m in source.builder.movements)
    hand = Counter(c["class"] for c in LABELS["crossings"])
    assert hand == {"motorcycle": 19, "car": 1}
    assert got["car"] == 1
    # within 10 % of the hand count (measured: 19, of them 18 matched to a label, one right-
    # turner at the frame's bottom edge missed and one id switch in the standing queue)
    assert abs(got["motorcycle"] - 19) <= 2
    main = [m for m in source.builder.movements if m.lane != "nb_r"]
    assert 8 <= len(main) <= 9
    reds = [m for m in main if m.t_s > 26 / 6]
    assert len(reds) >= 4                       # the four red-light runners E, F, G, H


def test_frames_carry_the_signal_and_the_queue_building_at_red(played):
    _, steps = played
    colours = [lights["far"] for _, lights in steps]
    assert colours[0] == "green" and colours[-1] == "red" and "yellow" in colours
    nb = [frames["northbound"] for frames, _ in steps]
    assert nb[0].green[:3].all() and not nb[-1].green.any()
    present = np.array([f.present[:3].sum() for f in nb])
    stopped = np.array([f.stopped[:3].sum() for f in nb])
    # hand counts at red: 14 vehicles at 16 s, 27 at 32 s, 28 at 48 s (frames 96, 192, 288);
    # the enlarged pass over the lanes finds 14, ~21 and ~23 (benchmarks/vision_errors.py)
    t = np.array([f.time_s for f in nb])
    at = {s: int(np.argmin(np.abs(t - s))) for s in (16, 32, 48)}
    assert present[:4].max() < 6
    assert abs(present[at[16]] - 14) <= 2
    assert present[at[32]] >= 18 and present[at[48]] >= 18
    assert stopped[at[48]] >= 15
    view_m = played[0].layouts["northbound"].view_m_per_lane
    assert all((f.queue_m <= view_m + 1e-9).all() for f in nb)         # at most the view, as in SUMO


def test_estimator_reads_the_video_frames(played):
    source, steps = played
    est = DemandEstimator(source.layouts.values())
    for frames, _ in steps:
        est.update(frames["northbound"])
    e = est.estimate(steps[-1][0]["northbound"].time_s)
    assert e.flags["northbound"].ok and e.flags["northbound"].implausible_frames <= 2
    assert sum(e.queue_veh[lane] for lane in ("nb_1", "nb_2", "nb_3")) >= 8
    # the view ends 8-11 m behind the stop line and the red queue reaches past it: the
    # estimator flags the spill-back and takes no demand measurement from such windows
    assert e.spillback["nb_2"] and e.flow_veh_h["northbound:through"] == 0.0


def test_engineer_outputs(played, tmp_path):
    source, _ = played
    written = write_intersection_report(source, tmp_path, start=datetime(2022, 9, 25, 16, 15, 44))
    names = {p.name for p in written}
    assert {"turning_movements.csv", "discharge.csv", "red_light_runners.csv", "queue_profile.png"} <= names
    tmc = (tmp_path / "turning_movements.csv").read_text().splitlines()
    assert tmc[0].startswith("DATE,TIME,INTID,NBL,NBT,NBR,NBU,SBL")
    row = dict(zip(tmc[0].split(","), tmc[1].split(",")))
    assert row["TIME"] == "16:15" and row["INTID"] == "giangvo_langha"
    assert sum(int(row[k]) for k in ("NBL", "NBT", "NBR", "NBU")) == len(source.builder.movements)
    discharge = (tmp_path / "discharge.csv").read_text().splitlines()
    assert len(discharge) == 2 and ",False," in discharge[1]       # one green, already under way at the start
    assert len((tmp_path / "red_light_runners.csv").read_text().splitlines()) >= 5


def model() -> IntersectionModel:
    """Two phases by hand: northbound (our camera) and the cross street eastbound; the
    right-turn slip nb_r runs in both."""
    links = (SignalLink(0, "nb_1", "w", "northbound", "left"), SignalLink(1, "nb_1", "n", "northbound", "through"),
             SignalLink(2, "nb_2", "n", "northbound", "through"), SignalLink(3, "nb_3", "n", "northbound", "through"),
             SignalLink(4, "nb_3", "e", "northbound", "right"), SignalLink(5, "nb_r", "e", "northbound", "right"),
             SignalLink(6, "eb_0", "e2", "eastbound", "through"))
    movements = (Movement("northbound:left", "northbound", "left", (0,), ("nb_1",), ("w",)),
                 Movement("northbound:through", "northbound", "through", (1, 2, 3), ("nb_1", "nb_2", "nb_3"), ("n",)),
                 Movement("northbound:right", "northbound", "right", (4, 5), ("nb_3", "nb_r"), ("e",)),
                 Movement("eastbound:through", "eastbound", "through", (6,), ("eb_0",), ("e2",)))
    phases = (Phase(0, "GGGGGGr", 30.0, 1.0, 60.0, ("northbound:left", "northbound:through", "northbound:right")),
              Phase(1, "rrrrrGG", 30.0, 5.0, 60.0, ("eastbound:through",)))
    return IntersectionModel(TLS, links, movements, phases, yellow_s=3.0, all_red_s=1.0, program_cycle_s=68.0)


EB = CameraLayout("eastbound", lanes=("eb_0",), movements=("eastbound:through",), lane_movements=((True,),))


def eb_frame(t_s: float, green: bool) -> CameraFrame:
    return CameraFrame(t_s, "eastbound", True, np.array([EB_QUEUE_VEH]), np.array([EB_QUEUE_VEH]),
                       np.array([EB_QUEUE_VEH * 7.5]), np.array([green]), head_stopped=np.array([True]))


class VideoSignal:
    """SignalStatus from the head read off the video: green = phase 0, its clearance, red = phase 1."""

    def __init__(self) -> None:
        self.colour, self.since_s = None, 0.0

    def status(self, colour: str, t_s: float) -> SignalStatus:
        if colour != self.colour:
            self.colour, self.since_s = colour, (0.0 if self.colour is None else t_s)
        if colour == "green":
            return SignalStatus(TLS, 0, t_s - self.since_s)
        if colour == "yellow":
            return SignalStatus(TLS, 0, self.since_s, next_phase=1)
        return SignalStatus(TLS, 1, t_s - self.since_s)


def test_closed_loop_policy_serves_the_queued_approach_and_holds_through_discharge(played):
    source, steps = played
    layouts = {**source.layouts, "eastbound": EB}
    policy = AdaptivePolicy({TLS: model()}, layouts, start_s=0.0, config=AdaptiveConfig(use_gate=False))
    signal = VideoSignal()
    decisions = []
    for frames, lights in steps:
        t = frames["northbound"].time_s
        status = signal.status(lights["far"], t)
        commands = policy.step(t, STEP_S, {**frames, "eastbound": eb_frame(t, status.phase == 1)}, {TLS: status})
        phase_cmds = [c for c in commands if isinstance(c, PhaseCommand)]
        decisions.append((t, status, phase_cmds))
    policy.close()
    green = [(t, c) for t, s, c in decisions if s.phase == 0 and not s.in_clearance]
    # discharge at the start: vehicles due at the stop line keep the northbound green
    # although 5 vehicles wait on the cross street
    assert green and all(c and c[0].kind == "hold" and c[0].phase == 0 for _, c in green)
    red = [(t, s, c) for t, s, c in decisions if s.phase == 1]
    after_min = [c for t, s, c in red if s.green_s >= 5.0]
    # the cross street's queue does not move (nothing discharges there) while the northbound
    # queue grows in view: the policy asks for northbound next, every step after min green
    assert len(after_min) > 50
    # ... except once the watchdog has seen the cross street's queue stand through 30 s of its
    # green: a lock (controllers.gridlock), whose phases then run their plan green (30 s)
    locks = policy.report().gridlock_events
    assert [e.members for e in locks] == [(TLS,)]
    locked_at = locks[0].start_s
    assert all(c and c[0].kind == "serve_next" and c[0].phase == 0
               or (t >= locked_at and s.green_s < 30.0 and c[0].kind == "hold") for t, s, c in red if s.green_s >= 5.0)
    assert all(c[0].kind == "hold" for t, s, c in red if s.green_s < 5.0)

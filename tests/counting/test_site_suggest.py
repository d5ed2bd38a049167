"""``counting.site_suggest`` on hand-built tracks with known lanes, queue and turns."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.site import load_site
from counting.site_suggest import site_yaml, suggest_site
from counting.trajectories import Trajectories
from phasewise_errors import VideoError
from vision.classes import CAR, MOTORCYCLE

W, H = 640, 480
VP = np.array([320.0, 0.0])       # every lane runs toward it
LANE_W_AT_H = 160.0               # a 3.5 m lane is 160 px wide at the bottom of the frame


def ray_x(x_bottom: float, y: np.ndarray | float) -> np.ndarray:
    """x on the ray from the vanishing point through (x_bottom, H)."""
    return VP[0] + (x_bottom - VP[0]) * (np.asarray(y, float) - VP[1]) / (H - VP[1])


class Builder:
    """Collects tracks (anchor points over time) into a Trajectories."""

    def __init__(self, seed: int = 0) -> None:
        self.rows: list[tuple] = []
        self.next_id = 1
        self.rng = np.random.default_rng(seed)

    def track(self, points: np.ndarray, t0: float, dt: float, cls: int = CAR, jitter: float = 1.5) -> None:
        scale = points[:, 1] / H                        # the image scale grows toward the camera
        width = (1.8 if cls == CAR else 0.8) / 3.5 * LANE_W_AT_H * scale
        height = np.where(cls == CAR, 0.9, 1.1) * LANE_W_AT_H * scale / 2
        pts = points + self.rng.normal(0, jitter, points.shape)
        for k, (p, w, h) in enumerate(zip(pts, width, height)):
            self.rows.append((t0 + k * dt, self.next_id, cls, p[0], p[1], w, h))
        self.next_id += 1

    def build(self, video_s: float) -> Trajectories:
        t, tid, cls, x, y, w, h = (np.array(c) for c in zip(*self.rows))
        return Trajectories(t, tid.astype(np.int64), cls.astype(np.int64), np.stack([x, y], 1), np.stack([w, h], 1),
                            (W, H), video_s)


def free_flow(lanes_bottom_x=(160.0, 320.0, 480.0), per_lane: int = 5) -> Trajectories:
    """Cars coming toward the camera (down the frame) in three lanes, one every 2 s per lane."""
    b = Builder()
    for i in range(per_lane):
        for x_bottom in lanes_bottom_x:
            y = np.linspace(40.0, 470.0, 40)
            b.track(np.stack([ray_x(x_bottom, y), y], 1), t0=2.0 * i, dt=0.1)
    return b.build(video_s=2.0 * per_lane + 4)


def test_free_flow_lanes_follow_the_vehicles():
    proposal = suggest_site(free_flow(), camera="synthetic")
    site = proposal.site
    assert [a.name for a in proposal.approaches] == ["southbound"]
    assert [lane.id for lane in site.lanes] == ["sb_1", "sb_2", "sb_3"]
    assert site.exits == []                       # no queue, no junction: nothing to turn into
    line_y = {p[1] for lane in site.lanes for p in lane.stop_line}
    assert len(line_y) == 1                       # one level counting line across the road
    y = line_y.pop()
    # two thirds along the stretch the cars were seen (y 40..470)
    assert abs(y - (40 + 2 / 3 * 430)) < 15
    # lane boundaries where the true ones are: halfway between the lanes' rays
    xs = sorted({p[0] for lane in site.lanes for p in lane.stop_line})
    truth = [ray_x(x, y) for x in (80.0, 240.0, 400.0, 560.0)]
    assert np.allclose(xs, truth, atol=10), (xs, truth)
    for lane, x_bottom in zip(site.lanes, (160.0, 320.0, 480.0)):
        d = np.asarray(lane.direction) / np.linalg.norm(lane.direction)
        ray = np.array([x_bottom - VP[0], H - VP[1]])
        assert d @ ray / np.linalg.norm(ray) > 0.995   # along its lane, toward the camera


def signalised() -> Trajectories:
    """Vehicles moving up the frame toward a stop line at y = 300: on green some go on (left,
    through, right), on red a queue stands behind it in three lanes; cross traffic passes
    inside the junction (y 150-250)."""
    b = Builder(seed=1)
    lanes = (160.0, 320.0, 480.0)
    stop_y = 300.0
    # discharge: through up to y 60, left to the left edge, right to the right edge
    for k, x_bottom in enumerate(lanes * 2):
        y = np.linspace(470.0, 60.0, 42)
        pts = np.stack([ray_x(x_bottom, y), y], 1)
        turn = ("left", "through", "right")[k % 3]
        if turn != "through":
            cut = int(np.argmax(y < stop_y - 40))
            x0, y0 = pts[cut]
            x_end = 10.0 if turn == "left" else W - 10.0
            bend = np.stack([np.linspace(x0, x_end, 30), np.full(30, y0) - np.linspace(0, 40, 30)], 1)
            pts = np.concatenate([pts[:cut], bend])
        b.track(pts, t0=0.5 * k, dt=0.15)
    # red: a queue in every lane; the front vehicle's front (its box top) is at the line
    for lane in lanes:
        for row in range(4):
            front = stop_y + 4 + 55.0 * row
            box_h = 1.1 * LANE_W_AT_H * (front + 50) / H / 2
            stand_y = front + box_h
            arrive = np.linspace(475.0, stand_y, 12)
            y = np.concatenate([arrive, np.full(40, stand_y)])
            b.track(np.stack([ray_x(lane, y), y], 1), t0=5.0 + 2 * row, dt=0.2, cls=MOTORCYCLE, jitter=0.5)
    # cross traffic inside the junction, both ways
    for k in range(8):
        x = np.linspace(20.0, 620.0, 30) if k % 2 else np.linspace(620.0, 20.0, 30)
        b.track(np.stack([x, np.full(30, 180.0 + 8 * k)], 1), t0=6.0 + k, dt=0.1)
    return b.build(video_s=30.0)


def test_queue_makes_the_stop_line_and_turns_make_exits(tmp_path):
    proposal = suggest_site(signalised(), camera="synthetic")
    site = proposal.site
    assert [a.name for a in proposal.approaches] == ["northbound"]
    assert "queue" in proposal.approaches[0].stop_line_from
    assert any("junction" in why for why in proposal.left_out)      # the cross traffic
    assert len(site.lanes) == 3
    for lane in site.lanes:
        for _, y in lane.stop_line:
            assert abs(y - 300.0) <= 6, lane.stop_line           # where the queue's front stood
        assert lane.direction[1] < 0                               # up the frame
    exits = {e.movement: e for e in site.exits}
    assert set(exits) == {"left", "through", "right"}
    assert {e.id for e in site.exits} == {"west", "north", "east"}
    # each lane serves the turn its vehicles took (left lane left, middle through, right lane right)
    assert [lane.movements for lane in site.lanes] == [("left",), ("through",), ("right",)]
    # the written file is a site file: the same site back through the loader
    path = tmp_path / "site.yaml"
    path.write_text(site_yaml(proposal, "synthetic.mp4"))
    assert load_site(path) == site


def test_too_few_vehicles_is_a_clear_error():
    b = Builder()
    for k in range(2):
        y = np.linspace(40.0, 470.0, 20)
        b.track(np.stack([ray_x(200.0 + 100 * k, y), y], 1), t0=k, dt=0.1)
    with pytest.raises(VideoError, match="too few moving vehicles"):
        suggest_site(b.build(video_s=5.0), camera="synthetic")


def test_saved_tracks_load_back(tmp_path):
    tracks = free_flow(per_lane=2)
    tracks.save(tmp_path / "t.npz")
    back = Trajectories.load(tmp_path / "t.npz")
    assert back.frame_size == tracks.frame_size and np.array_equal(back.anchor_px, tracks.anchor_px)
    assert suggest_site(back, camera="x").site == suggest_site(tracks, camera="x").site

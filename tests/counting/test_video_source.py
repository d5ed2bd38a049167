"""CameraFrameBuilder on hand-built tracks: crossings with their turn, queues, arrival, head, box."""

import numpy as np
import pytest

from calibration.site import SiteConfig
from counting.video_source import CameraFrameBuilder, approach_layouts, heading_turn
from vision.classes import CAR, MOTORCYCLE
from vision.detections import Detections

# One approach, two lanes going up the image; stop line at y = 200; 10 px per metre.
SITE = SiteConfig.model_validate({
    "camera": "t", "frame_size": [400, 400],
    "homography": {"image_px": [[0, 0], [400, 0], [400, 400], [0, 400]],
                   "ground_m": [[0, 0], [40, 0], [40, 40], [0, 40]]},
    "lanes": [
        {"id": "a", "approach": "northbound", "movements": ["left", "through"],
         "polygon": [[0, 200], [100, 200], [100, 400], [0, 400]], "stop_line": [[0, 200], [100, 200]],
         "direction": [0, -1]},
        {"id": "b", "approach": "northbound", "movements": ["through"],
         "polygon": [[100, 200], [200, 200], [200, 400], [100, 400]], "stop_line": [[100, 200], [200, 200]],
         "direction": [0, -1]},
    ],
    "exits": [{"id": "w", "movement": "left", "line": [[10, 0], [10, 150]]}],
    "junction": [[0, 0], [400, 0], [400, 199], [0, 199]],
    "signal_heads": [{"id": "h", "box": [0, 0, 10, 10]}],
})


def tracks(rows):
    """rows of (tracker_id, x, y_bottom, class)"""
    xyxy = np.array([[x - 5, y - 10, x + 5, y] for _, x, y, _ in rows], np.float32).reshape(-1, 4)
    return Detections(xyxy, np.full(len(rows), 0.9), np.array([c for *_, c in rows]), np.array([t for t, *_ in rows]))


def test_layout_per_approach_with_movements_in_turn_order():
    lay = approach_layouts(SITE)["northbound"]
    assert lay.lanes == ("a", "b")
    assert lay.movements == ("northbound:left", "northbound:through")
    assert lay.lane_movements == ((True, True), (False, True))
    assert lay.view_m_per_lane == pytest.approx([20.0, 20.0])


@pytest.mark.parametrize("disp, turn", [((0, -10), "through"), ((-10, -3), "left"), ((10, -3), "right"),
                                        ((0, 10), "uturn")])
def test_heading_turn_for_traffic_going_up(disp, turn):
    assert heading_turn((0, -1), disp) == turn


def test_crossing_reported_with_the_exit_it_takes_then_queue_and_green():
    b = CameraFrameBuilder(SITE, step_s=1.0, movement_wait_s=3.0)
    out = []
    # car 1 crosses lane a's stop line at t=0.5 and leaves by the west exit at t=1.5;
    # motorcycles 2, 3 stand in lane b, 2 at 3 m from the line (the head), 3 at 8 m.
    path = {0.0: (50, 210), 0.5: (50, 190), 1.0: (20, 120), 1.5: (5, 100)}
    for t in np.arange(0.0, 3.01, 0.5):
        rows = [(2, 150, 230, MOTORCYCLE), (3, 150, 280, MOTORCYCLE)]
        if t in path and path[t][0] >= 0:
            rows.append((1, *path[t], CAR))
        out.append(b.update(tracks(rows), float(t), {"h": "green"}))
    frames = [f["northbound"] for f in out if f]
    assert [f.time_s for f in frames] == [1.0, 2.0, 3.0]
    crossed = [(f.time_s, f.crossing_lane.tolist(), f.crossing_movement.tolist(), f.crossing_class.tolist())
               for f in frames if f.crossing_lane.size]
    # the turn is known when the car crosses the west exit line (t = 1.5), in the frame ending at 2.0
    assert crossed == [(2.0, [0], [0], [CAR])]
    assert b.movements[0].how == "exit" and b.movements[0].t_s == 0.5
    last = frames[-1]
    assert last.present.tolist() == [0, 2] and last.stopped.tolist() == [0, 2]
    assert last.queue_m[1] == pytest.approx(8.0 + 2.2)        # back of the farthest stopped motorcycle
    assert last.head_stopped.tolist() == [False, True]
    assert last.green.tolist() == [True, True]


def test_turn_from_heading_when_no_exit_is_crossed_and_arrival_of_a_moving_vehicle():
    b = CameraFrameBuilder(SITE, step_s=1.0, movement_wait_s=1.0)
    frames = []
    for k, t in enumerate(np.arange(0.0, 2.01, 0.5)):
        # vehicle 5 goes straight up through lane b's line at 10 m/s; vehicle 6 approaches in lane a at 5 m/s
        rows = [(5, 150, 220 - 50 * k, CAR), (6, 50, 390 - 25 * k, CAR)]
        f = b.update(tracks(rows), float(t), {"h": "red"})
        if f:
            frames.append(f["northbound"])
    assert b.movements and b.movements[0].turn == "through" and b.movements[0].how == "heading"
    assert frames[0].arrival_s[0] == pytest.approx((390 - 50 - 200) / 10 / 5.0, rel=0.15)
    assert not frames[0].green.any()


def test_vehicle_standing_in_the_junction_after_crossing_counts_for_its_lane():
    b = CameraFrameBuilder(SITE, step_s=0.5)
    b.update(tracks([(7, 150, 205, CAR)]), 0.0)
    frames = [b.update(tracks([(7, 150, 180, CAR)]), t) for t in (0.5, 1.0, 1.5, 2.0, 2.5)]
    assert frames[-1]["northbound"].stopped_in_junction.tolist() == [0, 1]

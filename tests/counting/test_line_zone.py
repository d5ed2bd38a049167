import numpy as np

from calibration.site import LaneConfig, line_site
from counting.line_zone import StopLineCounter
from vision.detections import Detections

LANE_A = LaneConfig(id="a", approach="sb", polygon=[(0, 0), (100, 0), (100, 200), (0, 200)],
                    stop_line=((0, 100), (100, 100)), direction=(0, 1))
LANE_B = LaneConfig(id="b", approach="sb", polygon=[(100, 0), (200, 0), (200, 200), (100, 200)],
                    stop_line=((100, 100), (200, 100)), direction=(0, 1))


def track(x, y_bottom, tid, cls=2, h=20):
    return Detections(np.array([[x - 10, y_bottom - h, x + 10, y_bottom]]), np.array([0.9]),
                      np.array([cls]), np.array([tid]))


def tracks(*rows):
    if not rows:
        return Detections.empty()
    xyxy = np.array([[x - 10, y - 20, x + 10, y] for x, y, _ in rows], np.float32)
    return Detections(xyxy, np.full(len(rows), 0.9), np.full(len(rows), 2), np.array([t for _, _, t in rows]))


def run(counter, seq):
    events = []
    for k, t in enumerate(seq):
        events += counter.update(t, k / 10)
    return events


def test_crossing_forward_counts_once_in_its_lane():
    c = StopLineCounter([LANE_A, LANE_B])
    ev = run(c, [track(150, y, 1) for y in (80, 95, 105, 120)])
    assert [(e.lane, e.tracker_id, e.class_id) for e in ev] == [("b", 1, 2)]


def test_wrong_way_is_not_counted_but_bidirectional_line_counts_it():
    c = StopLineCounter([LANE_A])
    assert run(c, [track(50, y, 1) for y in (120, 105, 95, 80)]) == []
    line = line_site(0, 100, 100, 100, 200, 200).lanes
    assert len(run(StopLineCounter(line), [track(50, y, 1) for y in (120, 105, 95, 80)])) == 1


def test_car_stopped_on_the_line_jittering_counts_once():
    c = StopLineCounter([LANE_A])
    ys = [90, 98, 101, 99, 102, 99, 101, 100.5, 99.5, 101, 130]
    assert len(run(c, [track(50, y, 7) for y in ys])) == 1


def test_track_lost_while_crossing_is_counted_when_it_reappears():
    c = StopLineCounter([LANE_A])
    seq = [track(50, 90, 3), Detections.empty(), Detections.empty(), track(50, 115, 3)]
    assert len(run(c, seq)) == 1


def test_fragmented_track_not_recounted():
    # id 1 crosses and vanishes; id 2 appears on the same spot just before the line, crosses again.
    c = StopLineCounter([LANE_A])
    seq = [track(50, 95, 1), track(50, 103, 1), track(50, 99, 2), track(50, 106, 2)]
    ev = run(c, seq)
    assert [e.tracker_id for e in ev] == [1]


def test_new_id_just_past_the_line_takes_over_the_vanished_one_once():
    c = StopLineCounter([LANE_A])
    seq = [track(50, 90, 1), track(50, 96, 1), track(50, 104, 2), track(50, 110, 2)]
    ev = run(c, seq)
    assert [e.tracker_id for e in ev] == [2]


def test_two_cars_side_by_side_both_counted():
    c = StopLineCounter([LANE_A, LANE_B])
    ev = run(c, [tracks((50, 95, 1), (150, 95, 2)), tracks((50, 105, 1), (150, 105, 2))])
    assert sorted(e.lane for e in ev) == ["a", "b"]


def test_close_following_car_in_same_lane_is_counted():
    c = StopLineCounter([LANE_A])
    seq = [tracks((50, 95, 1), (50, 70, 2)), tracks((50, 105, 1), (50, 80, 2)),
           tracks((50, 130, 1), (50, 95, 2)), tracks((50, 150, 1), (50, 106, 2))]
    assert [e.tracker_id for e in run(c, seq)] == [1, 2]

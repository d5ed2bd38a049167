import numpy as np

from vision.detections import Detections
from vision.tracker import ByteTracker, TrackerConfig, iou_matrix


def dets(*boxes, conf=0.9, cls=2):
    b = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return Detections(b, np.full(len(b), conf), np.full(len(b), cls))


def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0]], atol=1e-6)


def test_moving_vehicle_keeps_one_id():
    tr = ByteTracker()
    ids = set()
    for k in range(30):
        x = 10 + 8 * k
        out = tr.update(dets([x, 100, x + 40, 130]), k / 30)
        ids.update(out.tracker_id.tolist())
    assert len(ids) == 1


def test_two_crossing_paths_do_not_swap_ids():
    tr = ByteTracker()
    seen = {}
    for k in range(20):
        a = [100 + 6 * k, 100, 140 + 6 * k, 130]
        b = [300 - 6 * k, 140, 340 - 6 * k, 170]
        out = tr.update(dets(a, b), k / 30)
        for box, tid in zip(out.xyxy, out.tracker_id):
            seen.setdefault(int(tid), set()).add(int(box[1]))
    assert len(seen) == 2 and all(len(v) == 1 for v in seen.values())


def test_queued_car_missed_for_three_seconds_keeps_its_id():
    tr = ByteTracker(TrackerConfig(max_lost_s=5.0))
    first = None
    for k in range(10):                       # approaches and stops at x = 200
        x = min(150 + 10 * k, 200)
        out = tr.update(dets([x, 100, x + 40, 130]), k / 10)
        first = out.tracker_id[0] if len(out) else first
    for k in range(10, 40):                   # long red: the detector misses it for 3 s
        tr.update(Detections.empty(), k / 10)
    out = tr.update(dets([201, 100, 241, 130]), 4.0)
    assert len(out) == 1 and out.tracker_id[0] == first


def test_lost_longer_than_max_lost_gets_a_new_id():
    tr = ByteTracker(TrackerConfig(max_lost_s=1.0))
    for k in range(3):
        out = tr.update(dets([200, 100, 240, 130]), k / 10)
    old = out.tracker_id[0]
    tr.update(Detections.empty(), 2.0)
    tr.update(dets([200, 100, 240, 130]), 2.1)
    out = tr.update(dets([200, 100, 240, 130]), 2.2)
    assert out.tracker_id[0] != old


def test_low_confidence_detection_continues_a_track_but_does_not_start_one():
    tr = ByteTracker()
    for k in range(3):
        out = tr.update(dets([100 + 5 * k, 100, 140 + 5 * k, 130]), k / 30)
    tid = out.tracker_id[0]
    out = tr.update(dets([115, 100, 155, 130], conf=0.2), 3 / 30)
    assert list(out.tracker_id) == [tid]
    tr2 = ByteTracker()
    for k in range(3):
        out2 = tr2.update(dets([100, 100, 140, 130], conf=0.2), k / 30)
    assert len(out2) == 0

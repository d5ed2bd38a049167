import numpy as np
import pytest

from vision.classes import CAR, MOTORCYCLE, PERSON
from vision.detections import Detections
from vision.riders import fuse_riders, pedestrians


def dets(rows):
    return Detections(np.array([r[:4] for r in rows], np.float32), np.full(len(rows), 0.5),
                      np.array([r[4] for r in rows]))


def test_rider_on_a_visible_bike_is_dropped():
    out = fuse_riders(dets([(100, 100, 130, 160, PERSON), (95, 130, 135, 190, MOTORCYCLE)]))
    assert out.class_id.tolist() == [MOTORCYCLE] and len(out) == 1


def test_rider_whose_bike_is_hidden_becomes_a_motorcycle_reaching_down_to_the_road():
    out = fuse_riders(dets([(100, 100, 140, 150, PERSON)]), frame_h=480)     # squat: torso and head
    assert out.class_id.tolist() == [MOTORCYCLE]
    assert out.xyxy[0, 3] == 150 + 0.8 * 50


def test_walking_pedestrian_and_cars_stay():
    out = fuse_riders(dets([(10, 10, 30, 80, PERSON), (200, 200, 300, 260, CAR)]))
    assert sorted(out.class_id.tolist()) == [PERSON, CAR]


def test_extended_box_is_clipped_to_the_frame():
    out = fuse_riders(dets([(100, 440, 140, 475, PERSON)]), frame_h=480)
    assert out.xyxy[0, 3] == 480


def test_pillion_passenger_is_not_a_second_motorcycle():
    # rider (conf 0.6) and pillion (0.4) behind him, both with the bike hidden: one motorcycle
    d = Detections(np.array([[100, 100, 140, 150], [102, 110, 138, 152]], np.float32), np.array([0.6, 0.4]),
                   np.array([PERSON, PERSON]))
    out = fuse_riders(d)
    assert out.class_id.tolist() == [MOTORCYCLE] and out.confidence.tolist() == [pytest.approx(0.6)]


def test_two_riders_side_by_side_stay_two():
    d = Detections(np.array([[100, 100, 140, 150], [135, 100, 175, 150]], np.float32), np.array([0.6, 0.5]),
                   np.array([PERSON, PERSON]))
    assert len(fuse_riders(d)) == 2


def test_region_detector_enlarges_the_region_and_maps_boxes_back():
    from vision.zoom import RegionDetector

    class Seen:
        name = "stub"

        def detect(self, frame):
            self.shape = frame.shape
            return Detections(np.array([[20, 10, 60, 50]], np.float32), np.array([0.9]), np.array([MOTORCYCLE]))

    stub = Seen()
    out = RegionDetector(stub, box=(100, 200, 300, 300), scale=2.0).detect(np.zeros((480, 640, 3), np.uint8))
    assert stub.shape == (200, 400, 3)
    assert out.xyxy.tolist() == [[110, 205, 130, 225]]


def test_pedestrians_are_the_persons_fuse_riders_keeps():
    """On random scenes of persons, two-wheelers and cars: the persons on foot
    (``pedestrians``) are exactly the person boxes ``fuse_riders`` leaves persons."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        xy = rng.uniform(0, 400, (n, 2))
        wh = rng.uniform(10, 80, (n, 2))
        cls = rng.choice([PERSON, PERSON, MOTORCYCLE, CAR], n)
        d = Detections(np.hstack([xy, xy + wh]).astype(np.float32), rng.uniform(0.2, 0.9, n), cls)
        on_foot = d.xyxy[pedestrians(d)]
        fused = fuse_riders(d)
        kept = fused.xyxy[fused.class_id == PERSON]
        assert sorted(map(tuple, on_foot.tolist())) == sorted(map(tuple, kept.tolist()))
        assert not pedestrians(d)[d.class_id != PERSON].any()

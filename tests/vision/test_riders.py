import numpy as np

from vision.classes import CAR, MOTORCYCLE, PERSON
from vision.detections import Detections
from vision.riders import fuse_riders


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

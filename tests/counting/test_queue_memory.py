"""``counting.queue_memory.QueueMemory`` on hand-built boxes: a camera behind a queue."""

from __future__ import annotations

import numpy as np

from counting.queue_memory import QueueMemory
from vision.classes import MOTORCYCLE
from vision.detections import Detections


def boxes(*xyxy: tuple[float, float, float, float]) -> Detections:
    n = len(xyxy)
    return Detections(np.array(xyxy, np.float32).reshape(n, 4), np.full(n, 0.5, np.float32), np.full(n, MOTORCYCLE))


FRONT = (100, 200, 140, 260)      # the first rider, nearer the stop line (higher in the image)
BEHIND = (95, 230, 145, 300)      # the next one stops behind it, nearer the camera, and hides it


def test_a_rider_hidden_by_the_one_behind_stays_counted():
    memory = QueueMemory()
    assert len(memory.update(boxes(FRONT), 0.0)) == 1
    out = memory.update(boxes(BEHIND), 1.0)           # the front one is no longer detected
    assert len(out) == 2
    assert out.confidence.tolist() == [0.5, 0.0]      # the remembered one is marked as such
    assert np.allclose(out.xyxy[1], FRONT)
    assert len(memory.update(boxes(BEHIND), 2.0)) == 2


def test_a_place_in_view_with_nothing_on_it_is_forgotten():
    memory = QueueMemory()
    memory.update(boxes(FRONT), 0.0)
    assert len(memory.update(boxes((300, 200, 340, 260)), 1.0)) == 1   # FRONT's place is in view, empty
    assert len(memory) == 1


def test_a_vehicle_seen_again_is_not_counted_twice():
    memory = QueueMemory()
    memory.update(boxes(FRONT, BEHIND), 0.0)
    shifted = (104, 203, 146, 262)                     # the same rider, its box a little off
    assert len(memory.update(boxes(shifted, BEHIND), 1.0)) == 2
    assert len(memory) == 2


def test_passing_vehicles_are_not_remembered_and_hide_nothing_out_of_red():
    memory = QueueMemory()
    memory.update(boxes(FRONT), 0.0)
    moving = np.array([BEHIND], np.float32)            # the rider behind is moving: discharge
    assert len(memory.update(boxes(BEHIND), 1.0, moving_xyxy=moving)) == 1
    assert len(memory) == 0                            # FRONT forgotten, the passing one not kept
    # at red the same creeping rider hides the one standing in front of it
    memory = QueueMemory()
    memory.update(boxes(FRONT), 0.0)
    out = memory.update(boxes(BEHIND), 1.0, moving_xyxy=moving, at_red=np.array([True]))
    assert len(out) == 2


def test_hidden_too_long_is_forgotten():
    memory = QueueMemory(max_hidden_s=10.0)
    memory.update(boxes(FRONT), 0.0)
    assert len(memory.update(boxes(BEHIND), 5.0)) == 2
    assert len(memory.update(boxes(BEHIND), 11.0)) == 1

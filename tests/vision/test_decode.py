import numpy as np

from vision.decode import decode_yolov8, decode_yolox, nms
from vision.detections import Detections
from vision.preprocess import apply_letterbox, plan_letterbox


def test_letterbox_rect_pads_to_stride_and_maps_boxes_back():
    box = plan_letterbox(1280, 720, 640, rect=True)
    assert (box.input_w, box.input_h) == (640, 384)
    img = apply_letterbox(np.zeros((720, 1280, 3), np.uint8), box)
    assert img.shape == (384, 640, 3)
    assert img[0, 0, 0] == 114 and img[200, 320, 0] == 0     # grey pad, image inside
    back = box.boxes_to_frame(np.array([[100, 12, 200, 112]], np.float32), 1280, 720)
    np.testing.assert_allclose(back, [[200, 0, 400, 200]], atol=1e-4)


def test_decode_yolov8_keeps_best_vehicle_class_and_suppresses_duplicates():
    box = plan_letterbox(640, 640, 640, rect=False)
    out = np.zeros((1, 84, 3), np.float32)
    out[0, :4, 0] = [100, 100, 20, 20]; out[0, 4 + 2, 0] = 0.9   # car
    out[0, :4, 1] = [101, 100, 20, 20]; out[0, 4 + 7, 1] = 0.6   # same vehicle as truck
    out[0, :4, 2] = [300, 300, 40, 40]; out[0, 4 + 16, 2] = 0.99  # a dog: not a road user class
    d = decode_yolov8(out, box, 640, 640, conf=0.25, iou=0.7, classes=(0, 1, 2, 3, 5, 7))
    assert len(d) == 1 and d.class_id[0] == 2
    np.testing.assert_allclose(d.xyxy[0], [90, 90, 110, 110], atol=1e-4)


def test_decode_yolox_applies_grid_stride_and_objectness():
    box = plan_letterbox(416, 416, 416, rect=False, centre=False)
    n = (52 * 52) + (26 * 26) + (13 * 13)
    out = np.zeros((1, n, 85), np.float32)
    out[0, :, 2:4] = -10  # tiny boxes everywhere
    k = 5 * 52 + 3                       # stride 8, grid cell (x=3, y=5)
    out[0, k, :4] = [0.5, 0.5, np.log(4), np.log(2)]
    out[0, k, 4] = 0.8; out[0, k, 5 + 2] = 0.9
    d = decode_yolox(out, box, 416, 416, conf=0.25, iou=0.7, classes=(2,))
    assert len(d) == 1
    np.testing.assert_allclose(d.confidence, [0.72], atol=1e-6)
    np.testing.assert_allclose(d.xyxy[0], [28 - 16, 44 - 8, 28 + 16, 44 + 8], atol=1e-4)


def test_nms_class_aware_keeps_overlapping_boxes_of_different_classes():
    xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    keep = nms(xyxy, np.array([0.9, 0.8], np.float32), np.array([2, 7]), 0.5)
    assert len(keep) == 2
    keep = nms(xyxy, np.array([0.9, 0.8], np.float32), np.array([2, 2]), 0.5)
    assert list(keep) == [0]


def test_detections_anchor_is_bottom_centre_and_class_filter():
    d = Detections(np.array([[0, 0, 10, 20], [5, 5, 7, 9]]), np.array([0.5, 0.6]), np.array([2, 0]))
    np.testing.assert_allclose(d.anchors(), [[5, 20], [6, 9]])
    assert (d.tracker_id == -1).all()
    assert len(d.with_classes((2,))) == 1

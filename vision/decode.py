"""Raw network outputs to ``Detections``: YOLOv8/YOLO11 heads, YOLOX heads, and NMS.

Pure numpy (plus OpenCV's NMS), shared by the ONNX Runtime and OpenVINO runtimes so both
lean paths decode identically.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from vision.detections import Detections
from vision.preprocess import Letterbox

MAX_DETECTIONS = 300

# NMS is class-agnostic by default: a vehicle seen as both "car" and "truck" must stay one
# box, or it is tracked and counted twice (YOLOX-Nano does this often on vans and SUVs).


def decode_yolov8(output: npt.NDArray[np.float32], box: Letterbox, frame_w: int, frame_h: int, *,
                  conf: float, iou: float, classes: tuple[int, ...], agnostic: bool = True) -> Detections:
    """Decode an Ultralytics YOLOv8/YOLO11 detect head, shape (1, 4 + C, N).

    Rows 0..3 are box centre x, y, width, height in input pixels; the rest are per-class
    scores already passed through a sigmoid. Mirrors Ultralytics' ``non_max_suppression``
    (best class per anchor, class-aware NMS).
    """
    pred = output[0]
    scores_all = pred[4:]
    keep_cls = np.asarray(classes, dtype=np.int64)
    sub = scores_all[keep_cls]                      # (K, N): only the classes we want
    best = sub.argmax(axis=0)
    score = sub[best, np.arange(sub.shape[1])]
    mask = score > conf
    if not mask.any():
        return Detections.empty()
    cxcywh = pred[:4, mask].T
    return _finish(cxcywh, score[mask], keep_cls[best[mask]], box, frame_w, frame_h, iou, agnostic)


def decode_yolox(output: npt.NDArray[np.float32], box: Letterbox, frame_w: int, frame_h: int, *,
                 conf: float, iou: float, classes: tuple[int, ...], agnostic: bool = True,
                 strides: tuple[int, ...] = (8, 16, 32)) -> Detections:
    """Decode a YOLOX head exported without decoding, shape (1, N, 5 + C).

    Per anchor: raw (cx, cy) offsets in grid cells, raw log (w, h), objectness, class scores
    (sigmoid already applied in the export). Box = ((offset + grid) * stride,
    exp(log_wh) * stride); score = objectness * class score (Ge et al., YOLOX, 2021).
    """
    pred = output[0]
    grids, stride_col = _yolox_grids(box.input_w, box.input_h, strides)
    xy = (pred[:, :2] + grids) * stride_col
    wh = np.exp(pred[:, 2:4]) * stride_col
    keep_cls = np.asarray(classes, dtype=np.int64)
    cls_scores = pred[:, 5:][:, keep_cls] * pred[:, 4:5]
    best = cls_scores.argmax(axis=1)
    score = cls_scores[np.arange(len(best)), best]
    mask = score > conf
    if not mask.any():
        return Detections.empty()
    cxcywh = np.concatenate([xy[mask], wh[mask]], axis=1)
    return _finish(cxcywh, score[mask], keep_cls[best[mask]], box, frame_w, frame_h, iou, agnostic)


_GRID_CACHE: dict[tuple[int, int, tuple[int, ...]], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}


def _yolox_grids(w: int, h: int, strides: tuple[int, ...]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    key = (w, h, strides)
    if key not in _GRID_CACHE:
        grids, cols = [], []
        for s in strides:
            ys, xs = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
            grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
            cols.append(np.full((xs.size, 1), s))
        _GRID_CACHE[key] = (np.concatenate(grids).astype(np.float32), np.concatenate(cols).astype(np.float32))
    return _GRID_CACHE[key]


def _finish(cxcywh: npt.NDArray[np.float32], score: npt.NDArray[np.float32], cls: npt.NDArray[np.int64],
            box: Letterbox, frame_w: int, frame_h: int, iou: float, agnostic: bool) -> Detections:
    xyxy = np.empty_like(cxcywh)
    xyxy[:, :2] = cxcywh[:, :2] - cxcywh[:, 2:] / 2
    xyxy[:, 2:] = cxcywh[:, :2] + cxcywh[:, 2:] / 2
    keep = nms(xyxy, score, np.zeros_like(cls) if agnostic else cls, iou)
    xyxy = box.boxes_to_frame(xyxy[keep], frame_w, frame_h)
    return Detections(xyxy, score[keep], cls[keep])


def nms(xyxy: npt.NDArray[np.float32], score: npt.NDArray[np.float32], cls: npt.NDArray[np.int64],
        iou: float) -> npt.NDArray[np.int64]:
    """Class-aware non-maximum suppression; indices of kept boxes, best score first."""
    if len(xyxy) == 0:
        return np.zeros(0, dtype=np.int64)
    # Offsetting each class by a large constant keeps classes apart (Ultralytics' trick).
    shifted = xyxy + (cls.astype(np.float32) * 7680.0)[:, None]
    xywh = np.concatenate([shifted[:, :2], shifted[:, 2:] - shifted[:, :2]], axis=1)
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), 0.0, iou)
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    return idx[np.argsort(-score[idx], kind="stable")][:MAX_DETECTIONS]

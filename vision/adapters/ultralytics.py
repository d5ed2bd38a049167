"""Ultralytics YOLO as a detector: any weights format Ultralytics loads (.pt, ONNX, OpenVINO).

This is the reference path (torch is imported); the lean runtimes in ``onnxruntime.py`` and
``openvino.py`` must agree with it on the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from phasewise_errors import ModelError
from vision.classes import ROAD_USER_CLASSES
from vision.detections import Detections


def from_ultralytics(result: Any) -> Detections:
    """One Ultralytics ``Results`` object to ``Detections`` (track ids kept when present)."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    tracker_id = boxes.id.cpu().numpy().astype(np.int64) if boxes.id is not None else np.zeros(0, np.int64)
    return Detections(
        boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64), tracker_id
    )


class UltralyticsDetector:
    """``detect(frame) -> Detections`` through ``ultralytics.YOLO(weights).predict``.

    >>> det = UltralyticsDetector("../shared/models/yolo11n_int8_openvino_model", imgsz=640)
    >>> dets = det.detect(frame)  # doctest: +SKIP
    """

    name = "ultralytics"

    def __init__(self, weights: str | Path, *, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
                 classes: tuple[int, ...] = ROAD_USER_CLASSES) -> None:
        try:
            from ultralytics import YOLO
        except ImportError as exc:  # pragma: no cover - ultralytics is a hard dependency
            raise ModelError(f"ultralytics is not installed ({exc}); pip install ultralytics") from exc
        from vision.adapters.torchvision_shim import ensure_torchvision_importable

        ensure_torchvision_importable()
        try:
            self.model = YOLO(str(weights), task="detect")
        except Exception as exc:
            raise ModelError(f"cannot load weights {weights} with Ultralytics: {exc}") from exc
        self.imgsz, self.conf, self.iou, self.classes = imgsz, conf, iou, list(classes)

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        results = self.model.predict(
            frame, imgsz=self.imgsz, conf=self.conf, iou=self.iou, classes=self.classes,
            agnostic_nms=True, verbose=False
        )
        return from_ultralytics(results[0])

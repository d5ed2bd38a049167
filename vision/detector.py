"""Choosing and loading a detector from a weights path.

``load_detector(weights, backend=...)`` returns an object with ``detect(frame) -> Detections``:

* ``backend="lean"`` (default): OpenVINO runtime for an OpenVINO folder/.xml, ONNX Runtime
  for a .onnx file; no torch imported; fastest.
* ``backend="ultralytics"``: ``ultralytics.YOLO(weights).predict``; any format Ultralytics
  loads (.pt, ONNX, OpenVINO). The reference.

Weights come from ``--weights``, else ``$PHASEWISE_WEIGHTS``, else the shared YOLO11n INT8
OpenVINO export next to the repository. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from phasewise_errors import ModelError
from vision.classes import ROAD_USER_CLASSES
from vision.detections import Detections

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO_ROOT.parent / "shared" / "models" / "yolo11n_int8_openvino_model"
BACKENDS = ("lean", "ultralytics")


class Detector(Protocol):
    name: str

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections: ...


def resolve_weights(weights: str | Path | None) -> Path:
    """The weights path to use; ModelError naming the path and the fix if it does not exist."""
    chosen = weights or os.environ.get("PHASEWISE_WEIGHTS") or DEFAULT_WEIGHTS
    path = Path(chosen).expanduser()
    if not path.exists():
        raise ModelError(
            f"detector weights not found: {path} (pass --weights PATH or set PHASEWISE_WEIGHTS; "
            f"e.g. ../shared/models/yolo11n_int8_openvino_model)"
        )
    return path


def load_detector(weights: str | Path | None = None, *, backend: str = "lean", imgsz: int | None = None,
                  conf: float = 0.25, iou: float = 0.7, classes: tuple[int, ...] = ROAD_USER_CLASSES,
                  threads: int = 0) -> Detector:
    """A ready detector for ``weights`` on ``backend`` ("lean" or "ultralytics")."""
    path = resolve_weights(weights)
    if backend == "ultralytics":
        from vision.adapters.ultralytics import UltralyticsDetector

        return UltralyticsDetector(path, imgsz=imgsz or 640, conf=conf, iou=iou, classes=classes)
    if backend != "lean":
        raise ModelError(f"unknown detector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if path.suffix == ".onnx":
        from vision.adapters.onnxruntime import OnnxDetector

        return OnnxDetector(path, imgsz=imgsz, conf=conf, iou=iou, classes=classes, threads=threads)
    if path.is_dir() or path.suffix == ".xml":
        from vision.adapters.openvino import OpenVINODetector

        return OpenVINODetector(path, imgsz=imgsz or 640, conf=conf, iou=iou, classes=classes, threads=threads)
    raise ModelError(
        f"the lean backend runs .onnx files and OpenVINO folders, not {path.name}; "
        f"use --backend ultralytics for .pt weights"
    )

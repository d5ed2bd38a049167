"""Choosing and loading a detector from a weights path.

``load_detector(weights, backend=...)`` returns an object with ``detect(frame) -> Detections``:

* ``backend="lean"`` (default): OpenVINO runtime for an OpenVINO folder/.xml, ONNX Runtime
  for a .onnx file; no torch imported; fastest.
* ``backend="ultralytics"``: ``ultralytics.YOLO(weights).predict``; any format Ultralytics
  loads (.pt, ONNX, OpenVINO). The reference.

Weights come from ``--weights``, else ``$PHASEWISE_WEIGHTS``, else the default the caller
passes (the CLI: the shared YOLO11n INT8 OpenVINO export under ``$PHASEWISE_SHARED``), else
the one beside the repository. Nothing is downloaded, except that ``backend="ultralytics"``
given an official name that is not a local file (``yolo11n.pt``) lets Ultralytics fetch it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from phasewise_errors import ModelError
from vision.classes import ROAD_USER_CLASSES
from vision.detections import Detections

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = Path(os.environ.get("PHASEWISE_SHARED", REPO_ROOT.parent / "shared")) / "models" / "yolo11n_int8_openvino_model"
BACKENDS = ("lean", "ultralytics")


class Detector(Protocol):
    name: str

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections: ...


# Names Ultralytics downloads from its own releases when no such file exists (yolo11n.pt, yolov8s.pt...).
_ULTRALYTICS_RELEASE_NAME = re.compile(r"yolo[\w.-]*\.pt")
WEIGHTS_HELP = ("pass --weights PATH (an .onnx file or OpenVINO folder; .pt with --backend ultralytics, where "
                "--weights yolo11n.pt downloads Ultralytics' own), set PHASEWISE_WEIGHTS, or set PHASEWISE_SHARED "
                "to a folder holding models/yolo11n_int8_openvino_model")


def resolve_weights(weights: str | Path | None, *, default: str | Path | None = None,
                    allow_download: bool = False) -> Path:
    """The weights path to use; ModelError naming the path and the fix if it does not exist.

    ``weights``, else ``$PHASEWISE_WEIGHTS``, else ``default``, else :data:`DEFAULT_WEIGHTS`.
    ``allow_download`` (Ultralytics backend) accepts an official release name such as
    ``yolo11n.pt`` that is not a local file: Ultralytics downloads it.
    """
    chosen = weights or os.environ.get("PHASEWISE_WEIGHTS") or default or DEFAULT_WEIGHTS
    path = Path(chosen).expanduser()
    if path.exists():
        return path
    if allow_download and str(chosen) == path.name and _ULTRALYTICS_RELEASE_NAME.fullmatch(path.name):
        return path
    raise ModelError(f"detector weights not found: {path} ({WEIGHTS_HELP})")


def load_detector(weights: str | Path | None = None, *, backend: str = "lean", imgsz: int | None = None,
                  conf: float = 0.25, iou: float = 0.7, classes: tuple[int, ...] = ROAD_USER_CLASSES,
                  threads: int = 0, default_weights: str | Path | None = None) -> Detector:
    """A ready detector for ``weights`` on ``backend`` ("lean" or "ultralytics").

    ``default_weights`` is used when neither ``weights`` nor ``$PHASEWISE_WEIGHTS`` is given.
    """
    path = resolve_weights(weights, default=default_weights, allow_download=backend == "ultralytics")
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

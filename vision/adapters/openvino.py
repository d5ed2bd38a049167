"""Lean OpenVINO runtime for Ultralytics YOLO exports (``*_openvino_model/``): no torch.

Compiles the network for the exact letterboxed input shape of the camera (e.g. 640x384 for a
720p frame at 640), which is what makes it several times faster than ``YOLO.predict``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from phasewise_errors import ModelError
from vision.classes import ROAD_USER_CLASSES
from vision.decode import decode_yolov8
from vision.detections import Detections
from vision.preprocess import Letterbox, apply_letterbox, plan_letterbox


def find_openvino_xml(weights: Path) -> Path:
    """The ``.xml`` network description in an OpenVINO export folder (or the file itself)."""
    if weights.is_file() and weights.suffix == ".xml":
        return weights
    xmls = sorted(weights.glob("*.xml")) if weights.is_dir() else []
    if not xmls:
        raise ModelError(f"no OpenVINO .xml network in {weights}; pass an Ultralytics *_openvino_model folder")
    return xmls[0]


class OpenVINODetector:
    """``detect(frame) -> Detections`` with the OpenVINO runtime on a YOLOv8/YOLO11 IR."""

    name = "openvino"

    def __init__(self, weights: str | Path, *, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
                 classes: tuple[int, ...] = ROAD_USER_CLASSES, threads: int = 0) -> None:
        try:
            import openvino as ov
        except ImportError as exc:  # pragma: no cover
            raise ModelError(f"the openvino package is needed for {weights}: {exc}") from exc
        xml = find_openvino_xml(Path(weights))
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(xml))
        except Exception as exc:
            raise ModelError(f"cannot read OpenVINO model {xml}: {exc}") from exc
        self._config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = threads
        self.imgsz, self.conf, self.iou, self.classes = imgsz, conf, iou, classes
        self._compiled_for: tuple[int, int] | None = None
        self._box: Letterbox | None = None
        self._request = None

    def _compile(self, frame_w: int, frame_h: int) -> None:
        box = plan_letterbox(frame_w, frame_h, self.imgsz, rect=True)
        self._model.reshape({self._model.inputs[0].any_name: [1, 3, box.input_h, box.input_w]})
        compiled = self._core.compile_model(self._model, "CPU", self._config)
        self._request = compiled.create_infer_request()
        self._box, self._compiled_for = box, (frame_w, frame_h)

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        h, w = frame.shape[:2]
        if self._compiled_for != (w, h):
            self._compile(w, h)
        assert self._box is not None and self._request is not None
        blob = to_rgb_blob(apply_letterbox(frame, self._box))
        self._request.infer({0: blob})
        out = self._request.get_output_tensor(0).data
        return decode_yolov8(out, self._box, w, h, conf=self.conf, iou=self.iou, classes=self.classes)


def to_rgb_blob(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(H, W, 3) BGR uint8 to (1, 3, H, W) RGB float32 in 0..1 (Ultralytics' input)."""
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)

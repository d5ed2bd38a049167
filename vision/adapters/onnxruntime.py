"""Lean ONNX Runtime path for YOLO-family ONNX models (no torch at run time).

Two head layouts are recognised from the output shape:

* Ultralytics YOLOv8/YOLO11 export: output (1, 4 + C, N); input RGB 0..1, centred letterbox.
* YOLOX (Megvii) export: output (1, N, 5 + C); input BGR 0..255, letterbox at top-left,
  fixed square size (416 for YOLOX-Nano).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from phasewise_errors import ModelError
from vision.adapters.openvino import to_rgb_blob
from vision.classes import ROAD_USER_CLASSES
from vision.decode import decode_yolov8, decode_yolox
from vision.detections import Detections
from vision.preprocess import Letterbox, apply_letterbox, plan_letterbox


class OnnxDetector:
    """``detect(frame) -> Detections`` with ONNX Runtime on CPU."""

    name = "onnxruntime"

    def __init__(self, weights: str | Path, *, imgsz: int | None = None, conf: float = 0.25, iou: float = 0.7,
                 classes: tuple[int, ...] = ROAD_USER_CLASSES, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover
            raise ModelError(f"onnxruntime is needed for {weights}: {exc}") from exc
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(weights), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load ONNX model {weights}: {exc}") from exc
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        self._input_name = inp.name
        fixed = [d for d in inp.shape[2:] if isinstance(d, int)]
        self.fixed_size = fixed[0] if len(fixed) == 2 else None
        rows, cols = out.shape[-2], out.shape[-1]
        # YOLOX: (1, anchors, 5 + C); Ultralytics: (1, 4 + C, anchors), anchors often dynamic.
        is_yolox = isinstance(rows, int) and isinstance(cols, int) and cols < rows
        self.layout = "yolox" if is_yolox else "yolov8"
        if self.fixed_size is not None and imgsz not in (None, self.fixed_size):
            raise ModelError(f"{weights} has a fixed {self.fixed_size}x{self.fixed_size} input; "
                             f"--imgsz {imgsz} is not possible with it")
        self.imgsz = imgsz or self.fixed_size or 640
        self.conf, self.iou, self.classes = conf, iou, classes
        self._box: Letterbox | None = None
        self._box_for: tuple[int, int] | None = None

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        h, w = frame.shape[:2]
        if self._box_for != (w, h):
            yolox = self.layout == "yolox"
            self._box = plan_letterbox(w, h, self.imgsz, rect=self.fixed_size is None, centre=not yolox)
            self._box_for = (w, h)
        assert self._box is not None
        img = apply_letterbox(frame, self._box)
        if self.layout == "yolox":
            blob = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)
            out = self._session.run(None, {self._input_name: blob})[0]
            return decode_yolox(out, self._box, w, h, conf=self.conf, iou=self.iou, classes=self.classes)
        out = self._session.run(None, {self._input_name: to_rgb_blob(img)})[0]
        return decode_yolov8(out, self._box, w, h, conf=self.conf, iou=self.iou, classes=self.classes)

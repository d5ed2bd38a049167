"""Real weights on real frames: the lean runtimes agree with Ultralytics; bad paths fail clearly."""

import numpy as np
import pytest

from phasewise_errors import ModelError
from vision.detector import load_detector, resolve_weights
from vision.tracker import iou_matrix
from vision.video import VideoFile

import os as _os
from pathlib import Path as _Path

_SHARED = _Path(_os.environ.get("PHASEWISE_SHARED", _Path(__file__).resolve().parents[2].parent / "shared"))
OV_MODEL = _SHARED / "models" / "yolo11n_int8_openvino_model"
YOLOX_MODEL = _SHARED / "models" / "yolox_nano.onnx"
NL_VIDEO = _SHARED / "videos" / "nl_highway_overpass.mp4"
CA_VIDEO = _SHARED / "videos" / "ca_arterial.mp4"


@pytest.fixture(scope="module")
def frames(shared_data):
    return [f.image for f in VideoFile(NL_VIDEO, max_frames=241, every=60)]


def test_lean_openvino_matches_ultralytics_on_same_model(frames):
    lean = load_detector(OV_MODEL, backend="lean", imgsz=640)
    ref = load_detector(OV_MODEL, backend="ultralytics", imgsz=640)
    total = 0
    for img in frames:
        a, b = lean.detect(img), ref.detect(img)
        assert abs(len(a) - len(b)) <= 1
        strong = b[b.confidence > 0.4]
        if len(strong) == 0:
            continue
        iou = iou_matrix(strong.xyxy, a.xyxy)
        best = iou.argmax(axis=1)
        assert (iou.max(axis=1) > 0.9).all()
        assert (a.class_id[best] == strong.class_id).all()
        assert np.abs(a.confidence[best] - strong.confidence).max() < 0.08
        total += len(strong)
    assert total >= 3


def test_yolox_onnx_finds_the_cars(frames):
    det = load_detector(YOLOX_MODEL)
    assert det.layout == "yolox" and det.fixed_size == 416
    d = det.detect(frames[4])               # frame 240: four cars on the near carriageway
    assert (d.confidence > 0.5).sum() >= 3
    assert set(d.class_id[d.confidence > 0.5].tolist()) <= {2, 7}


def test_yolox_rejects_other_input_size(shared_data):
    with pytest.raises(ModelError, match="fixed 416"):
        load_detector(YOLOX_MODEL, imgsz=320)


def test_missing_weights_name_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("PHASEWISE_WEIGHTS", raising=False)
    with pytest.raises(ModelError, match="--weights"):
        resolve_weights(tmp_path / "missing.onnx")
    monkeypatch.setenv("PHASEWISE_WEIGHTS", str(OV_MODEL))
    assert resolve_weights(None) == OV_MODEL


def test_lean_backend_refuses_pt_with_advice(tmp_path):
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"x")
    with pytest.raises(ModelError, match="--backend ultralytics"):
        load_detector(pt)

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("PHASEWISE_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
OV_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
YOLOX_MODEL = SHARED / "models" / "yolox_nano.onnx"
NL_VIDEO = SHARED / "videos" / "nl_highway_overpass.mp4"
CA_VIDEO = SHARED / "videos" / "ca_arterial.mp4"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    for p in (OV_MODEL, YOLOX_MODEL, NL_VIDEO, CA_VIDEO):
        if not p.exists():
            pytest.fail(f"shared data missing: {p} (see ../shared/README.md)")
    return SHARED

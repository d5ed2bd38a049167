import numpy as np
import pytest

from phasewise_errors import VideoError
from vision.stream import LiveStream, is_stream_spec
from vision.video import VideoFile

import os as _os
from pathlib import Path as _Path

_SHARED = _Path(_os.environ.get("PHASEWISE_SHARED", _Path(__file__).resolve().parents[2].parent / "shared"))
OV_MODEL = _SHARED / "models" / "yolo11n_int8_openvino_model"
YOLOX_MODEL = _SHARED / "models" / "yolox_nano.onnx"
NL_VIDEO = _SHARED / "videos" / "nl_highway_overpass.mp4"
CA_VIDEO = _SHARED / "videos" / "ca_arterial.mp4"


def test_missing_video_is_a_clear_error(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        VideoFile(tmp_path / "nope.mp4")


def test_garbage_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoError):
        VideoFile(bad)


def test_file_reads_frames_with_times_and_stride(shared_data):
    v = VideoFile(CA_VIDEO, max_frames=10, every=3)
    frames = list(v)
    assert [f.index for f in frames] == [0, 3, 6, 9]
    assert frames[1].t_s == pytest.approx(3 / v.fps)
    assert frames[0].image.shape == (360, 640, 3)


class FakeCapture:
    """A camera that yields ``n`` frames then drops; ``opened`` False simulates a dead host."""

    def __init__(self, n, opened=True):
        self.n, self.opened = n, opened

    def isOpened(self):
        return self.opened

    def get(self, prop):
        return 25.0

    def read(self):
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, np.zeros((4, 4, 3), np.uint8)

    def release(self):
        pass


def test_stream_reconnects_after_drop_then_gives_up_with_error():
    opens = []

    def opener(_):
        opens.append(1)
        return FakeCapture(5 if len(opens) <= 2 else 0, opened=len(opens) <= 2)

    stream = LiveStream("rtsp://cam/1", give_up_s=0.3, max_backoff_s=0.05, opener=opener)
    got = []
    with pytest.raises(VideoError, match="giving up"):
        for f in stream:
            got.append(f.index)
    assert len(opens) >= 3 and stream.reconnects >= 2
    assert len(got) >= 1                            # frames before the drop were delivered


def test_stream_spec_detection():
    assert is_stream_spec("rtsp://10.0.0.1/s") and is_stream_spec("0")
    assert not is_stream_spec("clip.mp4")


def test_slow_consumer_drops_frames_instead_of_falling_behind():
    import time

    opens = []

    def opener(_):
        opens.append(1)
        return FakeCapture(2000, opened=len(opens) == 1)   # one burst of frames, then the camera is gone

    stream = LiveStream("0", give_up_s=0.2, max_backoff_s=0.05, opener=opener)
    got = []
    with pytest.raises(VideoError):
        for f in stream:
            got.append(f.index)
            time.sleep(0.01)
    assert stream.frames_dropped > 0
    assert len(got) < stream.frames_received
    assert got == sorted(got)

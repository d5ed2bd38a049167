"""Letterbox resizing: a camera frame into the network's input tensor, and boxes back.

Same arithmetic as Ultralytics' ``LetterBox`` (resize keeping aspect ratio with bilinear
interpolation, pad with grey 114), so the lean runtimes see exactly the pixels Ultralytics'
own predictor would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Letterbox:
    """How a frame was mapped into the network input: ``input = frame * gain + (pad_x, pad_y)``."""

    gain: float
    pad_x: float
    pad_y: float
    input_w: int
    input_h: int

    def boxes_to_frame(self, xyxy: npt.NDArray[np.float32], frame_w: int, frame_h: int) -> npt.NDArray[np.float32]:
        """Network-input boxes (x1, y1, x2, y2) back to frame pixels, clipped to the frame."""
        out = xyxy.copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.gain
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.gain
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, frame_w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, frame_h)
        return out


def plan_letterbox(frame_w: int, frame_h: int, imgsz: int, *, rect: bool, stride: int = 32,
                   centre: bool = True) -> Letterbox:
    """Choose gain and padding for a frame of ``frame_w`` x ``frame_h`` pixels.

    ``rect=True`` pads only to the next multiple of ``stride`` (a 1280x720 frame at 640 becomes
    640x384: 40% fewer pixels than 640x640); ``rect=False`` pads to a square ``imgsz``.
    ``centre=False`` puts the image at the top-left corner (YOLOX's convention).
    """
    gain = min(imgsz / frame_w, imgsz / frame_h)
    new_w, new_h = int(round(frame_w * gain)), int(round(frame_h * gain))
    if rect:
        in_w = int(np.ceil(new_w / stride) * stride)
        in_h = int(np.ceil(new_h / stride) * stride)
    else:
        in_w = in_h = imgsz
    if centre:
        pad_x, pad_y = (in_w - new_w) / 2, (in_h - new_h) / 2
    else:
        pad_x = pad_y = 0.0
    return Letterbox(gain=gain, pad_x=pad_x, pad_y=pad_y, input_w=in_w, input_h=in_h)


def apply_letterbox(frame: npt.NDArray[np.uint8], box: Letterbox) -> npt.NDArray[np.uint8]:
    """Resize and pad ``frame`` (H, W, 3) into a (input_h, input_w, 3) uint8 image."""
    h, w = frame.shape[:2]
    new_w, new_h = int(round(w * box.gain)), int(round(h * box.gain))
    resized = frame if (new_w, new_h) == (w, h) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # Ultralytics rounds the two pads with -0.1/+0.1 so an odd total splits 1 px unevenly.
    top, left = int(round(box.pad_y - 0.1)), int(round(box.pad_x - 0.1))
    bottom, right = box.input_h - new_h - top, box.input_w - new_w - left
    return cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))

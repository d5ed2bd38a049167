"""Signal state from the pixels of a signal head in view: which lamp is lit.

``lamp_colour(image, box)`` classifies the lit pixels inside the head's image box by hue
(OpenCV HSV, hue 0-179): red/magenta (hue < 12 or > 155), amber (12-35), green/cyan (the
LED greens of most heads look cyan on video: 40-100). A pixel is lit when bright and
saturated (``min_value``, ``min_saturation``); the colour with at least ``min_pixels`` lit
pixels and most of them wins, else the head reads ``dark``.

:class:`SignalHeadReader` turns per-frame colours into a signal state over time: a colour
must be read on ``confirm_frames`` frames in a row before the state changes (a passing
vehicle or a blink of the codec does not switch the light), and ``dark`` right after green
is the clearance (``yellow``): on the Hanoi clip the amber lamp barely shows on video, the
head reads dark for the ~3 s between green and red. The reader keeps the intervals
(:class:`SignalInterval`) for the discharge analysis.

Example::

    reader = SignalHeadReader(site.signal_heads[0].box)
    for frame in video:
        state = reader.update(frame.image, frame.t_s)     # "green", "yellow", "red" or "unknown"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

LampColour = Literal["red", "yellow", "green", "dark"]
SignalColour = Literal["red", "yellow", "green", "unknown"]

HUE_RED_BELOW, HUE_RED_ABOVE = 12, 155
HUE_AMBER = (12, 35)
HUE_GREEN = (40, 100)


def lamp_colour(image: npt.NDArray[np.uint8], box: tuple[int, int, int, int], *, min_value: int = 150,
                min_saturation: int = 90, min_pixels: int = 3) -> LampColour:
    """The colour of the lit lamp inside ``box`` = (x1, y1, x2, y2) of a BGR image."""
    x1, y1, x2, y2 = box
    hsv = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lit = (val >= min_value) & (sat >= min_saturation)
    counts = {
        "red": int((lit & ((hue < HUE_RED_BELOW) | (hue > HUE_RED_ABOVE))).sum()),
        "yellow": int((lit & (hue >= HUE_AMBER[0]) & (hue < HUE_AMBER[1])).sum()),
        "green": int((lit & (hue >= HUE_GREEN[0]) & (hue <= HUE_GREEN[1])).sum()),
    }
    colour, n = max(counts.items(), key=lambda kv: kv[1])
    return colour if n >= min_pixels else "dark"  # type: ignore[return-value]


@dataclass(frozen=True)
class SignalInterval:
    """The head showed ``colour`` from ``start_s`` to ``end_s``; ``start_seen`` is False when
    the interval was already under way when the video began (its onset is unknown)."""

    colour: SignalColour
    start_s: float
    end_s: float
    start_seen: bool = True

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class SignalHeadReader:
    """``update(image, t_s) -> SignalColour``: the debounced state of one signal head."""

    def __init__(self, box: tuple[int, int, int, int], *, confirm_frames: int = 2) -> None:
        self.box = box
        self.confirm_frames = confirm_frames
        self.state: SignalColour = "unknown"
        self.intervals: list[SignalInterval] = []
        self._candidate: SignalColour = "unknown"
        self._candidate_s = 0.0
        self._run = 0
        self._start_s = 0.0
        self._last_s = 0.0

    def update(self, image: npt.NDArray[np.uint8], t_s: float) -> SignalColour:
        return self.observe(lamp_colour(image, self.box), t_s)

    def observe(self, lamp: LampColour, t_s: float) -> SignalColour:
        """Fold one frame's lamp colour in (the pixel-free half of ``update``, for tests).

        A change is dated back to the first frame that showed the new colour."""
        reading: SignalColour
        if lamp == "dark":
            reading = "yellow" if self.state in ("green", "yellow") else self.state
        else:
            reading = lamp
        if reading != self._candidate:
            self._candidate, self._candidate_s, self._run = reading, t_s, 0
        self._run += 1
        if self.state == "unknown" and reading != "unknown":
            self.state, self._start_s = reading, t_s          # the first colour seen
        elif reading != self.state and self._run >= self.confirm_frames:
            self.intervals.append(SignalInterval(self.state, self._start_s, self._candidate_s,
                                                 start_seen=bool(self.intervals)))
            self.state, self._start_s = reading, self._candidate_s
        self._last_s = t_s
        return self.state

    def finish(self) -> list[SignalInterval]:
        """All intervals including the one still running at the last frame."""
        out = list(self.intervals)
        if self.state != "unknown":
            out.append(SignalInterval(self.state, self._start_s, self._last_s, start_seen=bool(self.intervals)))
        return out

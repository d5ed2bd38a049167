"""Turning movements where the camera sees them: stop-line lane, then an exit line.

A track counted at a lane's stop line that later crosses one of the site's exit lines (in
either direction) makes one ``Turn`` for that lane and exit's movement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calibration.geometry import segments_cross
from calibration.site import ExitConfig
from counting.events import Crossing, Turn
from vision.detections import Detections


class TurningCounter:
    """``update(tracks, crossings, t_s) -> list[Turn]``."""

    def __init__(self, exits: Sequence[ExitConfig]) -> None:
        self.exits = list(exits)
        self._entry_lane: dict[int, str] = {}
        self._last: dict[int, np.ndarray] = {}
        self._done: set[int] = set()

    def update(self, tracks: Detections, crossings: Sequence[Crossing], t_s: float) -> list[Turn]:
        for c in crossings:
            self._entry_lane[c.tracker_id] = c.lane
        turns: list[Turn] = []
        anchors = tracks.anchors().astype(np.float64)
        for i, tid in enumerate(tracks.tracker_id.tolist()):
            prev = self._last.get(tid)
            self._last[tid] = anchors[i]
            if prev is None or tid in self._done or tid not in self._entry_lane:
                continue
            for ex in self.exits:
                if segments_cross(prev, anchors[i], ex.line[0], ex.line[1])[0]:
                    turns.append(Turn(t_s, self._entry_lane[tid], ex.id, ex.movement,
                                      int(tracks.class_id[i]), tid))
                    self._done.add(tid)
                    break
        return turns

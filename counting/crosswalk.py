"""Persons waiting to cross: tracked ``person`` boxes standing in a crosswalk's waiting areas.

A site's ``crosswalks`` (:class:`calibration.site.CrosswalkConfig`) name a signalised
crossing and the kerb areas (image polygons) where people stand to cross it. Each processed
frame, :class:`CrosswalkWaits` takes the tracks and reports, per crosswalk, how many persons
wait and the longest wait: what the field's pedestrian calls are made of
(:class:`counting.camera_frame.PedestrianCall`, built by ``counting.video_source``).

Who waits, and since when:

* a track is a person on foot when :func:`vision.riders.pedestrians` says so (a ``person``
  box neither on a two-wheeler nor a rider whose bike is hidden): riders never wait;
* it stands in a crosswalk's area when its feet (the box's bottom centre) are inside one of
  the crosswalk's waiting areas; its wait starts the first frame it is seen there;
* it waits (is counted) once it has stood there ``min_wait_s`` (2 s: someone walking along
  the pavement crosses a kerb corner of a few metres in about that time and is not waiting);
* seen outside the areas (it walked on, or stepped onto the crossing), or seen as something
  other than a person on foot, its wait ends at once;
* not seen at all (hidden behind a passing vehicle, a missed detection), it still waits
  for ``max_gap_s`` (3 s) from its last sighting in the area, and a sighting in the area
  within that time continues its wait from where it started; unseen longer, it is gone (it
  crossed or walked away), and a person seen there again later starts a new wait. The
  tracker keeps a track's id through short gaps (``vision.tracker``), so a person hidden for
  a moment is the same track when seen again.

Example::

    waits = CrosswalkWaits(site.crosswalks)
    for t_s, tracks in tracked_frames:
        for wait in waits.update(tracks, t_s):      # one per crosswalk, in site order
            print(wait.crossing, wait.waiting, wait.longest_wait_s)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.geometry import points_in_polygon
from calibration.site import CrosswalkConfig
from vision.detections import Detections
from vision.riders import pedestrians

MIN_WAIT_S = 2.0  # standing this long in a waiting area is waiting, not walking past
MAX_GAP_S = 3.0  # unseen this long since the last sighting in the area: gone


@dataclass(frozen=True)
class CrosswalkWait:
    """Persons waiting at one crosswalk at ``time_s``: ``waiting`` of them, the first since
    ``longest_wait_s`` seconds (0 when nobody waits). ``crossing`` is the site's name of it."""

    crossing: str
    time_s: float
    waiting: int
    longest_wait_s: float


class CrosswalkWaits:
    """``update(tracks, t_s) -> (CrosswalkWait, ...)``, one per crosswalk (module docstring)."""

    def __init__(self, crosswalks: Sequence[CrosswalkConfig], *, min_wait_s: float = MIN_WAIT_S,
                 max_gap_s: float = MAX_GAP_S) -> None:
        self.crosswalks = tuple(crosswalks)
        self.min_wait_s, self.max_gap_s = min_wait_s, max_gap_s
        # per crosswalk: track id -> (time first seen in the area, time last seen there)
        self._standing: list[dict[int, tuple[float, float]]] = [{} for _ in self.crosswalks]

    def update(self, tracks: Detections, t_s: float) -> tuple[CrosswalkWait, ...]:
        """Fold in one processed frame's tracks (``tracker_id`` >= 0) seen at ``t_s``."""
        on_foot = pedestrians(tracks) & (tracks.tracker_id >= 0)
        feet = tracks.anchors().astype(np.float64)
        seen = {int(t) for t in tracks.tracker_id[tracks.tracker_id >= 0].tolist()}
        out = []
        for crosswalk, standing in zip(self.crosswalks, self._standing):
            inside = np.zeros(len(tracks), dtype=bool)
            for area in crosswalk.waiting_areas:
                inside |= points_in_polygon(feet, area)
            here = {int(t) for t in tracks.tracker_id[on_foot & inside].tolist()}
            for tid in list(standing):
                first_s, last_s = standing[tid]
                if tid in here:
                    standing[tid] = (first_s, t_s)
                elif tid in seen or t_s - last_s > self.max_gap_s:
                    del standing[tid]  # seen elsewhere (or not on foot), or gone
            for tid in here - standing.keys():
                standing[tid] = (t_s, t_s)
            waits = [t_s - first_s for first_s, _ in standing.values() if t_s - first_s >= self.min_wait_s]
            out.append(CrosswalkWait(crosswalk.crossing, t_s, len(waits), max(waits, default=0.0)))
        return tuple(out)

"""``SiteCounter``: every count one camera site yields, in one ``update`` per tracked frame.

Wires the stop-line counter (flow), the lane zones (occupancy and queue) and the turning
counter for one ``SiteConfig``::

    counter = SiteCounter(site)
    for t_s, tracks in tracked_frames:
        counts = counter.update(tracks, t_s)     # LaneCounts
"""

from __future__ import annotations

from collections import Counter

from calibration.site import SiteConfig
from counting.events import Crossing, LaneCounts, Turn
from counting.lane_zone import LaneZones
from counting.line_zone import StopLineCounter
from counting.turning import TurningCounter
from vision.classes import VEHICLE_CLASSES
from vision.detections import Detections


class SiteCounter:
    """``update(tracks, t_s) -> LaneCounts``; keeps every crossing and turn for the replay's files.

    One count definition: a counted vehicle is a track of one of ``classes`` (default the
    vehicle classes car, motorcycle, bus, truck, the classes of ``counts.csv`` and of PCU)
    crossing a stop line. Pedestrians and riders' own "person" boxes are never counted (a
    rider on a motorcycle would otherwise count twice).
    """

    def __init__(self, site: SiteConfig, *, classes: tuple[int, ...] = VEHICLE_CLASSES) -> None:
        self.site = site
        self.classes = classes
        self.stop_lines = StopLineCounter(site.lanes)
        self.zones = LaneZones(site.lanes, site.ground())
        self.turning = TurningCounter(site.exits)
        self.crossings: list[Crossing] = []
        self.turns: list[Turn] = []

    def update(self, tracks: Detections, t_s: float) -> LaneCounts:
        tracks = tracks.with_classes(self.classes)
        crossings = self.stop_lines.update(tracks, t_s)
        turns = self.turning.update(tracks, crossings, t_s)
        queues = self.zones.update(tracks, t_s)
        self.crossings.extend(crossings)
        self.turns.extend(turns)
        return LaneCounts(t_s, tuple(crossings), tuple(turns), tuple(queues))

    def totals(self) -> Counter[str]:
        """Vehicles counted so far per lane."""
        return Counter(c.lane for c in self.crossings)

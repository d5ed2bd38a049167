"""Value types that counting produces: crossings, turning movements, queue samples."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Crossing:
    """One vehicle crossing a lane's stop line (one unit of flow)."""

    t_s: float
    lane: str
    class_id: int
    tracker_id: int


@dataclass(frozen=True)
class Turn:
    """One vehicle that crossed ``lane``'s stop line and then an exit line: a turning movement."""

    t_s: float
    lane: str
    exit: str
    movement: str
    class_id: int
    tracker_id: int


@dataclass(frozen=True)
class QueueSample:
    """Vehicles in one lane zone at one instant.

    ``present`` vehicles in the zone, ``stopped`` of them slower than the stop threshold,
    ``queue_m`` from the stop line to the back of the farthest stopped vehicle (NaN without
    a homography), ``present_by_class`` COCO class id -> vehicles present.
    """

    t_s: float
    lane: str
    present: int
    stopped: int
    queue_m: float
    present_by_class: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LaneCounts:
    """What one ``SiteCounter.update`` saw: new crossings and turns, and the queue state."""

    t_s: float
    crossings: tuple[Crossing, ...]
    turns: tuple[Turn, ...]
    queues: tuple[QueueSample, ...]


@dataclass(frozen=True)
class CountedMovement:
    """One counted vehicle with the turn it took after the stop line.

    ``turn`` comes from the exit line it crossed (``how="exit"``), else from its heading a
    few seconds after the stop line (``how="heading"``), else from the lane's own turns
    (``how="lane"``: it vanished at once and the lane serves one turn, or through).
    ``at_px`` is the image point where its anchor crossed the stop line.
    """

    t_s: float
    lane: str
    approach: str
    turn: str
    class_id: int
    tracker_id: int
    how: str = "exit"
    at_px: tuple[float, float] = (float("nan"), float("nan"))

"""What one approach camera reports each step: the value type between sensing and estimation.

A camera watches one approach (the lanes of one incoming edge up to its stop line) over a
field of view of ``view_m`` metres before the stop line. Every step it reports a
:class:`CameraFrame` of plain numpy arrays, whatever produced it (the SUMO virtual camera in
``sumo_scenarios.sensing``, or the vision pipeline on real video), so the estimator
(:mod:`counting.estimator`) knows nothing of where frames come from.

:class:`CameraLayout` is the static description of one camera: its lanes (in the order of
every per-lane array), the movements of its approach, and which lane serves which movement.

Example::

    layout = CameraLayout("e1", lanes=("e1_0", "e1_1"), movements=("e1:through", "e1:left"),
                          lane_movements=((True, False), (True, True)), view_m=100.0)
    frame = CameraFrame.empty(layout, time_s=10.0)   # nothing seen this step
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

STOPPED_SPEED_M_S = 0.5
"""A vehicle slower than this (m/s) is stopped: the one threshold for "stopped" wherever a
``CameraFrame`` is made. The video lane zones (``counting.lane_zone``) use it, measuring
speed over a 2 s window; the SUMO virtual camera (``sumo_scenarios.sensing``) and its truth
(``sumo_scenarios.sensing_truth``) on SUMO's instantaneous speed.

Why 0.5 on video (``benchmarks/vision_errors.py``, Hanoi intersection clip, every vehicle
hand-counted standing at red at frames 96, 192 and 288: 14, 27, 28): a detector's box
jitters by 1-2 px on a vehicle that does not move, and a rider half hidden behind another by
more, so even over 2 s a standing two-wheeler often reads 0.1-0.4 m/s. Of the 14, 15 and 11
vehicles the lane zones held (input 640), 5, 9 and 6 read stopped at 0.1 m/s, 9, 12 and 11
at 0.5 m/s, 10, 12 and 11 at 1.0 m/s. 0.5 m/s (1.8 km/h) is still well below a queue's
creeping speed when it starts to discharge."""

BOX_CRAWL_M_S = 3.0
"""A vehicle inside the junction box slower than this (m/s) stands there: it will not be out
of the way before a crossing stream released now reaches it (``CameraFrame.stopped_in_junction``;
the SUMO virtual camera and the video frame builder both use it).

Why 3.0 and not a standing speed (``benchmarks/adaptive.py``, cologne3, README "Adaptive
control"): on cologne3's large cluster junction (33 m through the box) a through vehicle held
up by left-turners crawls on at 1-2 m/s. At 1.0 m/s it did not count, the all-red ended, the
crossing phase was released into it and the box deadlocked (seeds 3 and 5: 37.4 and 39.5
s/veh, the vehicles teleported by SUMO after 300 s); at 3.0 m/s the all-red waits for it and
neither seed locks (18.7 and 16.0). Counting every vehicle in the box whatever its speed lost
more green than it saved (seeds 3 and 5 with a 10 s hold: 17.6 and 20.6 against 16.9 and
17.6 at 3.0 m/s)."""

@dataclass(frozen=True)
class PriorityCall:
    """A vehicle asking for priority at a signal, seen this step by a priority receiver (an
    emergency vehicle's optical or radio emitter; a bus's transit-priority request).

    ``approach`` is the incoming edge (the camera id of that approach), ``lane`` the index of
    the stop-line lane it will reach in that approach's lanes (None when the receiver knows
    only the approach), ``distance_m`` how far it is from the stop line, ``vehicle_class``
    SUMO's vClass (``emergency``, ``bus``)."""

    tls_id: str
    approach: str
    lane: int | None
    distance_m: float
    vehicle_class: str
    vehicle_id: str


@dataclass(frozen=True)
class PedestrianCall:
    """Persons waiting to cross at a signal, seen this step by a camera that watches the
    crossing's ends (the detector's ``person`` class in the field; in SUMO, persons standing
    on a walking area with the crossing next on their way).

    ``crossing`` is the crossing's signal index (``optimizer.intersection.Crossing.index``),
    ``waiting`` how many persons wait there, ``longest_wait_s`` how long the first of them
    has stood."""

    tls_id: str
    crossing: int
    waiting: int
    longest_wait_s: float


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CameraLayout:
    """Static description of one approach camera.

    ``lanes`` orders every per-lane array of the camera's frames; ``movements`` are the
    approach's movement ids (``"<approach>:<turn>"``) that ``CameraFrame.crossing_movement``
    indexes; ``lane_movements[l][m]`` is True when lane ``l`` serves movement ``m``;
    ``view_m`` the field of view from the stop line upstream, per lane (one value for all
    lanes is broadcast); ``min_spacing_m`` the shortest length of lane one vehicle takes in a
    standing queue (4 m: cars; ~0.5 m where two-wheelers stand four abreast), the
    estimator's bound on how many vehicles a lane's view can hold.
    """

    camera_id: str
    lanes: tuple[str, ...]
    movements: tuple[str, ...]
    lane_movements: tuple[tuple[bool, ...], ...]
    view_m: float | tuple[float, ...] = 100.0
    min_spacing_m: float = 4.0

    def __post_init__(self) -> None:
        serves = np.asarray(self.lane_movements, dtype=bool).reshape(len(self.lanes), len(self.movements))
        if not serves.any(axis=1).all():
            raise ValueError(f"camera {self.camera_id}: every lane must serve at least one movement")

    @property
    def serves(self) -> BoolArray:
        """``(lanes, movements)`` boolean matrix of ``lane_movements``."""
        return np.asarray(self.lane_movements, dtype=bool).reshape(len(self.lanes), len(self.movements))

    @property
    def view_m_per_lane(self) -> FloatArray:
        return np.broadcast_to(np.asarray(self.view_m, dtype=np.float64), (len(self.lanes),)).copy()


@dataclass(frozen=True)
class CameraFrame:
    """One camera's observation at ``time_s`` (covering the step that ends then).

    Per lane (arrays of ``len(lanes)``, in the layout's lane order):

    * ``present``: vehicles detected in the view,
    * ``stopped``: of them, halted (speed below ``STOPPED_SPEED_M_S``),
    * ``queue_m``: distance from the stop line to the back of the farthest stopped
      vehicle in view (0 when none), at most the view length,
    * ``green``: whether the lane's signal showed green during the step (the controller
      knows what it displays),
    * ``arrival_s``: seconds until the nearest *moving* vehicle reaches the stop line
      (distance over speed from the track; ``inf`` when nothing moves in view),
    * ``head_stopped``: the first vehicle of the lane stands within a few metres of the
      stop line,
    * ``stopped_in_junction``: vehicles that crossed the lane's stop line and stand (or
      crawl, below ``BOX_CRAWL_M_S``) inside the junction box, e.g. a turn waiting for a gap.

    The last three come from the tracks; a source that has no tracks may leave them out
    (``arrival_s`` is then all ``inf``, ``head_stopped`` all False, ``stopped_in_junction`` zero).

    Per stop-line crossing this step (parallel arrays, one entry per counted crossing; a
    fragmented track appears twice, a missed vehicle not at all):

    * ``crossing_lane``: index into ``lanes``,
    * ``crossing_movement``: index into the layout's ``movements`` (the camera sees which
      way the vehicle leaves just after the stop line),
    * ``crossing_class``: COCO class id (2 car, 3 motorcycle, 5 bus, 7 truck).

    ``pedestrians``: persons waiting at crossings seen by the camera this step (one call per
    crossing with someone waiting). A video stream's calls ride on the frame of its site's
    first approach only (``counting.video_source``), so each is reported once.

    ``ok`` is False when the camera delivered nothing usable (an outage): every array is
    then empty or zero and must not be read as "no traffic", and it places no pedestrian
    call (the controller's own pedestrian recall serves the crossing meanwhile).
    """

    time_s: float
    camera_id: str
    ok: bool
    present: IntArray
    stopped: IntArray
    queue_m: FloatArray
    green: BoolArray
    crossing_lane: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    crossing_movement: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    crossing_class: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    arrival_s: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    head_stopped: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    stopped_in_junction: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pedestrians: tuple[PedestrianCall, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.present)
        if self.arrival_s.size != n:
            object.__setattr__(self, "arrival_s", np.full(n, np.inf))
        if self.head_stopped.size != n:
            object.__setattr__(self, "head_stopped", np.zeros(n, dtype=bool))
        if self.stopped_in_junction.size != n:
            object.__setattr__(self, "stopped_in_junction", np.zeros(n, dtype=np.int64))

    @property
    def crossings(self) -> IntArray:
        """Crossings per lane this step."""
        return np.bincount(self.crossing_lane, minlength=len(self.present)).astype(np.int64)

    @classmethod
    def empty(cls, layout: CameraLayout, time_s: float, ok: bool = True) -> CameraFrame:
        """A frame with nothing seen (``ok=False``: an outage frame)."""
        n = len(layout.lanes)
        return cls(
            time_s=time_s,
            camera_id=layout.camera_id,
            ok=ok,
            present=np.zeros(n, dtype=np.int64),
            stopped=np.zeros(n, dtype=np.int64),
            queue_m=np.zeros(n, dtype=np.float64),
            green=np.zeros(n, dtype=bool),
        )

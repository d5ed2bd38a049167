"""Demand and queues from approach-camera frames: what the optimizer needs, with uncertainty.

Input: a stream of :class:`~counting.camera_frame.CameraFrame` (one per camera per step).
Output: a :class:`TrafficEstimate` with, per movement, the arrival rate and its standard
deviation (veh/h) and the saturation flow; per lane, the queue in vehicles and metres and
whether it spills back beyond the camera's view; per approach, turning ratios; and per
camera, whether its data is good, stale, missing (outage) or implausible.

The model, per camera and step of ``dt`` seconds (counts first divided by the detection
biases of :class:`DetectionRates`, so they are unbiased):

* **arrivals** by conservation of vehicles in the view (input-output): arrivals into a lane
  = stop-line crossings + change in vehicles present + change in the hidden queue. The
  lane's arrivals go to its movements in proportion to the turns counted at its stop line
  (shared lanes), crossings go to the movement the camera saw them take;
* **hidden queue** (the part beyond the view): it starts when the lane's stopped queue
  reaches the view's upstream end and, while it exists, changes by the lane's estimated
  arrival rate minus the vehicles entering the view (input-output); it is cleared when the
  view has been sparse (fewer than ``sparse_fraction`` of the vehicles a jammed view holds)
  for ``spill_clear_s``;
* **queue** = stopped vehicles in view + hidden queue; ``queue_m`` = visible queue end +
  hidden queue x ``jam_spacing_m``;
* **rates**: arrivals are summed over ``window_s`` and folded into a random-walk Kalman
  filter (:mod:`counting.kalman`). Windows in which a movement's lane was blocked to the
  view end carry no information about demand and are skipped (the uncertainty grows);
* **saturation flow** from discharge headways (HCM 2016, ch. 19): in each green that
  starts with a queue, the headways of the 5th to the last queued vehicle, shrunk towards
  1800 veh/h/lane with the weight of ``saturation_prior_veh`` headways;
* **bins**: arrivals are also summed per ``bin_s`` bin (:meth:`DemandEstimator.bins`); a
  process that runs for months drops bins and ended outages it no longer needs
  (:meth:`DemandEstimator.forget_before`);
* **bad data**: an outage frame (``ok`` False) or an implausible one (negative or NaN
  values, more vehicles than the view can hold, more crossings than lanes can discharge)
  is not used: rates keep their last value with a growing uncertainty, arrivals in the
  bins are imputed from the rate, queues keep their last value, and the camera is flagged.
  A camera with no frame for ``stale_s`` is flagged stale. Nothing is ever NaN or negative.

Example::

    estimator = DemandEstimator(layouts, rates=DetectionRates(miss_rate=0.05, false_positive_rate=0.02))
    for frame in frames:
        estimator.update(frame)
    demand = estimator.estimate(time_s)
    demand.flow_veh_h["e12:left"], demand.queue_veh["e12_2"], demand.flags["e12"].outage
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from counting.camera_frame import CameraFrame, CameraLayout
from counting.kalman import RateFilter

FloatArray = npt.NDArray[np.float64]

DEFAULT_SATURATION_VEH_H_LANE = 1800.0  # HCM 2016 base saturation flow, veh/h/lane
SATURATION_SKIP_VEH = 4  # the first 4 queued vehicles carry the start-up lost time (HCM)
MAX_DISCHARGE_VEH_S_LANE = 1.5  # more crossings per lane-second than this is implausible


@dataclass(frozen=True)
class DetectionRates:
    """Known count biases of the cameras, as fractions of real vehicles.

    ``crossing_ratio`` is E[counted crossings] / real crossings = (1 - miss)(1 + fragments)
    + false positives; ``presence_ratio`` the same for vehicles present; ``stopped_ratio``
    for stopped vehicles (phantoms never stop).
    """

    miss_rate: float = 0.0
    false_positive_rate: float = 0.0
    fragmentation_rate: float = 0.0

    @property
    def crossing_ratio(self) -> float:
        return (1.0 - self.miss_rate) * (1.0 + self.fragmentation_rate) + self.false_positive_rate

    @property
    def presence_ratio(self) -> float:
        return (1.0 - self.miss_rate) * (1.0 + self.false_positive_rate)

    @property
    def stopped_ratio(self) -> float:
        return 1.0 - self.miss_rate


@dataclass(frozen=True)
class CameraStatus:
    """Health of one camera at estimate time. ``ok`` is True only when no flag is raised.

    ``outages`` lists ``(start_s, end_s)`` of every outage seen so far (``end_s`` is the
    estimate time for one still under way); ``implausible_frames`` counts rejected frames.
    """

    ok: bool
    outage: bool
    stale: bool
    implausible: bool
    last_good_s: float
    outages: tuple[tuple[float, float], ...] = ()
    implausible_frames: int = 0


@dataclass(frozen=True)
class TrafficEstimate:
    """Everything the optimizer reads, at ``time_s``. Units in the names; never NaN or negative.

    (Not named ``DemandEstimate``: that is the optimizer's input type in
    ``optimizer.demand``, flows per tls; build it from ``flow_veh_h``/``std_veh_h``.)

    Keys: movement ids for ``flow_veh_h``, ``std_veh_h``, ``saturation_flow_veh_h``; lane ids
    for ``queue_veh``, ``queue_m``, ``spillback``, ``saturation_flow_veh_h_lane``; camera
    (approach) ids for ``turning_ratios`` (movement -> share, summing to 1) and ``flags``.
    ``saturation_flow_veh_h`` of a movement is the discharge capacity of its lanes at
    saturation: each lane's saturation flow times the movement's share of that lane.
    """

    time_s: float
    flow_veh_h: Mapping[str, float]
    std_veh_h: Mapping[str, float]
    queue_veh: Mapping[str, float]
    queue_m: Mapping[str, float]
    spillback: Mapping[str, bool]
    turning_ratios: Mapping[str, Mapping[str, float]]
    saturation_flow_veh_h: Mapping[str, float]
    saturation_flow_veh_h_lane: Mapping[str, float]
    flags: Mapping[str, CameraStatus]

    @property
    def outage_cameras(self) -> tuple[str, ...]:
        return tuple(cam for cam, status in self.flags.items() if status.outage)


@dataclass
class _CameraState:
    """Mutable per-camera state of the estimator (arrays over lanes L and movements M)."""

    layout: CameraLayout
    rates: RateFilter
    serves: FloatArray  # (L, M) 0/1
    turn_counts: FloatArray  # (L, M) crossings per lane and movement, decayed
    view_m: FloatArray  # (L,)
    prev_present: FloatArray | None = None
    hidden: FloatArray = field(default_factory=lambda: np.zeros(0))
    sparse_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    queue_veh: FloatArray = field(default_factory=lambda: np.zeros(0))
    queue_m: FloatArray = field(default_factory=lambda: np.zeros(0))
    spillback: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    window_arrivals: FloatArray = field(default_factory=lambda: np.zeros(0))
    window_blocked: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    window_start_s: float | None = None
    bin_index: int | None = None
    bin_arrivals: FloatArray = field(default_factory=lambda: np.zeros(0))
    bins: dict[int, FloatArray] = field(default_factory=dict)
    last_time_s: float | None = None
    last_good_s: float = -math.inf
    in_outage: bool = False
    implausible: bool = False
    implausible_frames: int = 0
    outages: list[list[float]] = field(default_factory=list)
    # saturation headways per lane
    green_prev: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    stopped_prev: FloatArray = field(default_factory=lambda: np.zeros(0))
    queued_at_green: FloatArray = field(default_factory=lambda: np.zeros(0))
    discharged: FloatArray = field(default_factory=lambda: np.zeros(0))
    sat_first_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    sat_last_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    sat_count: FloatArray = field(default_factory=lambda: np.zeros(0))
    headway_sum_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    headway_n: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def new(cls, layout: CameraLayout, rates: RateFilter) -> _CameraState:
        n_l, n_m = len(layout.lanes), len(layout.movements)
        zl = lambda: np.zeros(n_l)  # noqa: E731
        return cls(
            layout=layout, rates=rates, serves=layout.serves.astype(np.float64),
            turn_counts=np.zeros((n_l, n_m)), view_m=layout.view_m_per_lane,
            hidden=zl(), sparse_s=zl(), queue_veh=zl(), queue_m=zl(),
            spillback=np.zeros(n_l, dtype=bool), window_arrivals=np.zeros(n_m),
            window_blocked=np.zeros(n_m, dtype=bool), bin_arrivals=np.zeros(n_m),
            green_prev=np.zeros(n_l, dtype=bool), stopped_prev=zl(), queued_at_green=zl(),
            discharged=zl(), sat_first_s=zl(), sat_last_s=zl(), sat_count=zl(),
            headway_sum_s=zl(), headway_n=zl(),
        )

    def lane_shares(self) -> FloatArray:
        """(L, M): share of each lane's traffic taking each movement (prior: equal split)."""
        weights = self.turn_counts + self.serves * 0.5
        return weights / weights.sum(axis=1, keepdims=True)

    def movement_lane_split(self) -> FloatArray:
        """(L, M): share of each movement's traffic using each lane."""
        weights = self.turn_counts + self.serves * 0.5
        return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-9)


class DemandEstimator:
    """``update(frame)`` once per camera per step, ``estimate(time_s) -> TrafficEstimate``.

    ``rates`` are the cameras' known count biases (unbiased scaling); ``bin_s`` the bin of
    :meth:`bins`, aligned on ``origin_s``; ``window_s`` the Kalman measurement window;
    ``spill_margin_m``: a stopped queue ending within this of the view end blocks the view;
    ``drift_veh_h_per_15min``: how fast demand may change (Kalman process noise).
    """

    def __init__(
        self,
        layouts: Iterable[CameraLayout],
        rates: DetectionRates = DetectionRates(),
        bin_s: float = 900.0,
        origin_s: float = 0.0,
        window_s: float = 60.0,
        drift_veh_h_per_15min: float = 150.0,
        turn_memory_s: float = 1800.0,
        jam_spacing_m: float = 7.5,
        spill_margin_m: float = 8.0,
        spill_clear_s: float = 10.0,
        sparse_fraction: float = 0.3,
        stale_s: float = 5.0,
        saturation_prior_veh: float = 10.0,
    ) -> None:
        self.rates = rates
        self.bin_s = bin_s
        self.origin_s = origin_s
        self.window_s = window_s
        self.turn_memory_s = turn_memory_s
        self.jam_spacing_m = jam_spacing_m
        self.spill_margin_m = spill_margin_m
        self.spill_clear_s = spill_clear_s
        self.sparse_fraction = sparse_fraction
        self.stale_s = stale_s
        self.saturation_prior_veh = saturation_prior_veh
        self._cams = {
            layout.camera_id: _CameraState.new(
                layout, RateFilter(len(layout.movements), drift_veh_h_per_15min))
            for layout in layouts
        }

    def lane_turn_shares(self, camera_id: str) -> FloatArray:
        """(L, M): the learnt share of each of the camera's lanes' traffic taking each movement."""
        return self._cams[camera_id].lane_shares()

    # -- input ----------------------------------------------------------------------------
    def update(self, frame: CameraFrame) -> None:
        """Fold one camera frame in. Unknown cameras raise ``KeyError``."""
        cam = self._cams[frame.camera_id]
        dt = 1.0 if cam.last_time_s is None else frame.time_s - cam.last_time_s
        if dt <= 0.0:
            return  # a repeated or out-of-order frame adds nothing
        cam.last_time_s = frame.time_s
        cam.rates.predict(dt)
        cam.turn_counts *= math.exp(-dt / self.turn_memory_s)
        cam.implausible = frame.ok and not self._plausible(cam, frame, dt)
        cam.implausible_frames += int(cam.implausible)
        if frame.ok and not cam.implausible:
            if cam.in_outage:
                cam.outages[-1][1] = frame.time_s
            cam.in_outage = False
            arrivals, blocked = self._observe(cam, frame, dt)
            cam.last_good_s = frame.time_s
        else:
            if not frame.ok and not cam.in_outage:
                cam.outages.append([frame.time_s - dt, frame.time_s])
            cam.in_outage = cam.in_outage or not frame.ok
            cam.prev_present = None  # the first good frame after the gap is a new reference
            cam.green_prev[:] = False
            arrivals = cam.rates.rate_veh_s * dt  # impute from the last good rate
            blocked = np.ones(len(cam.layout.movements), dtype=bool)  # no information
        self._accumulate(cam, frame.time_s, arrivals, blocked)

    def _plausible(self, cam: _CameraState, frame: CameraFrame, dt: float) -> bool:
        n_l, n_m = len(cam.layout.lanes), len(cam.layout.movements)
        arrays = (frame.present, frame.stopped, frame.queue_m)
        if any(np.shape(a) != (n_l,) for a in (*arrays, frame.green)):
            return False
        if any(not np.all(np.isfinite(a)) or np.any(np.asarray(a) < 0) for a in arrays):
            return False
        if np.any(frame.present > cam.view_m / cam.layout.min_spacing_m + 2):  # 4 m unless the layout says
            return False
        lanes, moves = frame.crossing_lane, frame.crossing_movement
        if lanes.size and (lanes.min() < 0 or lanes.max() >= n_l or moves.min() < 0 or moves.max() >= n_m):
            return False
        return bool(np.all(frame.crossings <= MAX_DISCHARGE_VEH_S_LANE * dt + 1))

    def _observe(self, cam: _CameraState, frame: CameraFrame, dt: float) -> tuple[FloatArray, np.ndarray]:
        """Per-movement arrivals this step and which movements had a blocked view."""
        r = self.rates
        n_l, n_m = len(cam.layout.lanes), len(cam.layout.movements)
        crossed = np.zeros((n_l, n_m))
        np.add.at(crossed, (frame.crossing_lane, frame.crossing_movement), 1.0 / r.crossing_ratio)
        cam.turn_counts += crossed
        crossed_lane = crossed.sum(axis=1)
        present = frame.present / r.presence_ratio
        stopped = frame.stopped / r.stopped_ratio
        d_present = np.zeros(n_l) if cam.prev_present is None else present - cam.prev_present
        cam.prev_present = present

        # Hidden queue beyond the view (input-output while the view end is blocked).
        blocked = (frame.stopped > 0) & (frame.queue_m >= cam.view_m - self.spill_margin_m)
        lane_rate = cam.movement_lane_split() @ cam.rates.rate_veh_s
        entries = crossed_lane + d_present
        old_hidden = cam.hidden.copy()
        # Vehicles keep joining the back of a hidden queue while it exists, not only while
        # the view end is blocked: it drains only by what enters the view.
        queued_upstream = blocked | (cam.hidden > 0.0)
        # entries unclipped: phantom presences make single-step changes noisy both ways
        grown = cam.hidden + lane_rate * dt - entries
        cam.hidden = np.maximum(np.where(queued_upstream, grown, 0.0), 0.0)
        # A sparse view (far fewer vehicles than a moving queue holds) means nothing queues
        # behind it: clear what the input-output balance may still carry after a while.
        sparse = ~blocked & (present < self.sparse_fraction * cam.view_m / self.jam_spacing_m)
        cam.sparse_s = np.where(sparse, cam.sparse_s + dt, 0.0)
        cam.hidden[cam.sparse_s > self.spill_clear_s] = 0.0
        d_hidden = cam.hidden - old_hidden

        shares = cam.lane_shares()
        arrivals = crossed.sum(axis=0) + shares.T @ (d_present + d_hidden)
        cam.queue_veh = stopped + cam.hidden
        cam.queue_m = np.where(frame.stopped > 0, frame.queue_m, 0.0) + cam.hidden * self.jam_spacing_m
        cam.spillback = blocked | (cam.hidden >= 0.5)
        self._saturation(cam, frame, crossed_lane, stopped)
        movement_blocked = (cam.serves.T @ cam.spillback.astype(np.float64)) > 0
        return arrivals, movement_blocked

    def _saturation(self, cam: _CameraState, frame: CameraFrame, crossed_lane: FloatArray,
                    stopped: FloatArray) -> None:
        """Accumulate saturated discharge headways per lane (see the module docstring)."""
        t = frame.time_s
        onset = frame.green & ~cam.green_prev
        ended = ~frame.green & cam.green_prev
        self._close_discharge(cam, ended)
        cam.queued_at_green = np.where(onset, np.maximum(cam.stopped_prev, stopped) + cam.hidden,
                                       cam.queued_at_green)
        cam.discharged[onset] = 0.0
        cam.sat_count[onset] = 0.0
        active = frame.green & (crossed_lane > 0) & (cam.discharged < cam.queued_at_green)
        before = cam.discharged.copy()
        cam.discharged = np.where(active, cam.discharged + crossed_lane, cam.discharged)
        starts = active & (before < SATURATION_SKIP_VEH) & (cam.discharged >= SATURATION_SKIP_VEH)
        cam.sat_first_s[starts] = t
        cam.sat_count[starts] = 0.0
        counting = active & (before >= SATURATION_SKIP_VEH)
        cam.sat_count = np.where(counting, cam.sat_count + crossed_lane, cam.sat_count)
        cam.sat_last_s = np.where(counting, t, cam.sat_last_s)
        self._close_discharge(cam, frame.green & (cam.discharged >= cam.queued_at_green) & active)
        cam.green_prev = frame.green.copy()
        cam.stopped_prev = stopped

    @staticmethod
    def _close_discharge(cam: _CameraState, done: np.ndarray) -> None:
        use = done & (cam.sat_count >= 2)
        cam.headway_sum_s += np.where(use, cam.sat_last_s - cam.sat_first_s, 0.0)
        cam.headway_n += np.where(use, cam.sat_count, 0.0)
        cam.sat_count[done] = 0.0
        cam.queued_at_green[done] = 0.0

    def _accumulate(self, cam: _CameraState, time_s: float, arrivals: FloatArray, blocked: np.ndarray) -> None:
        # A frame at time t covers (t - dt, t]: it belongs to the bin containing t - epsilon.
        index = math.ceil((time_s - self.origin_s) / self.bin_s - 1e-9) - 1
        if cam.bin_index is None:
            cam.bin_index = index
        elif index != cam.bin_index:
            cam.bins[cam.bin_index] = cam.bin_arrivals
            cam.bin_arrivals = np.zeros_like(cam.bin_arrivals)
            cam.bin_index = index
        cam.bin_arrivals = cam.bin_arrivals + arrivals
        if cam.window_start_s is None:
            cam.window_start_s = time_s - 1.0
        cam.window_arrivals += arrivals
        cam.window_blocked |= blocked
        elapsed = time_s - cam.window_start_s
        if elapsed >= self.window_s:
            cam.rates.correct(cam.window_arrivals, elapsed, ~cam.window_blocked)
            cam.window_arrivals[:] = 0.0
            cam.window_blocked[:] = False
            cam.window_start_s = time_s

    # -- output ---------------------------------------------------------------------------
    def estimate(self, time_s: float) -> TrafficEstimate:
        """The current estimate; rates' uncertainty includes the time since the last frame."""
        flow, std, sat_move, sat_lane = {}, {}, {}, {}
        queue_veh, queue_m, spill, ratios, flags = {}, {}, {}, {}, {}
        for cam_id, cam in self._cams.items():
            lay = cam.layout
            since = 0.0 if cam.last_time_s is None else max(time_s - cam.last_time_s, 0.0)
            var = cam.rates.var + cam.rates.q * since
            lane_sat = 3600.0 * (cam.headway_n + self.saturation_prior_veh) / (
                cam.headway_sum_s + self.saturation_prior_veh * 3600.0 / DEFAULT_SATURATION_VEH_H_LANE)
            move_sat = cam.lane_shares().T @ lane_sat
            for m, move in enumerate(lay.movements):
                flow[move] = float(cam.rates.rate_veh_s[m] * 3600.0)
                std[move] = float(math.sqrt(var[m]) * 3600.0)
                sat_move[move] = float(move_sat[m])
            for k, lane in enumerate(lay.lanes):
                queue_veh[lane] = float(max(cam.queue_veh[k], 0.0))
                queue_m[lane] = float(max(cam.queue_m[k], 0.0))
                spill[lane] = bool(cam.spillback[k])
                sat_lane[lane] = float(lane_sat[k])
            counted = cam.turn_counts.sum(axis=0)
            shares = counted / counted.sum() if counted.sum() > 0 else np.full(len(lay.movements), 1 / len(lay.movements))
            ratios[cam_id] = {move: float(s) for move, s in zip(lay.movements, shares)}
            flags[cam_id] = self._status(cam, time_s)
        return TrafficEstimate(time_s, flow, std, queue_veh, queue_m, spill, ratios, sat_move, sat_lane, flags)

    def _status(self, cam: _CameraState, time_s: float) -> CameraStatus:
        stale = cam.last_time_s is None or time_s - cam.last_time_s > self.stale_s
        outages = tuple((a, time_s if cam.in_outage and k == len(cam.outages) - 1 else b)
                        for k, (a, b) in enumerate(cam.outages))
        return CameraStatus(
            ok=not (stale or cam.in_outage or cam.implausible),
            outage=cam.in_outage, stale=stale, implausible=cam.implausible,
            last_good_s=cam.last_good_s, outages=outages, implausible_frames=cam.implausible_frames,
        )

    def forget_before(self, time_s: float) -> None:
        """Drop the completed bins that end and the outages that ended before ``time_s``
        (the rates, queues, turning shares and saturation flows are kept: they are state,
        not history)."""
        for cam in self._cams.values():
            last = math.floor((time_s - self.origin_s) / self.bin_s) - 1  # the last bin ending by time_s
            for index in [i for i in cam.bins if i <= last]:
                del cam.bins[index]
            current = cam.outages[-1:] if cam.in_outage else []
            cam.outages = [o for o in cam.outages[:len(cam.outages) - len(current)] if o[1] >= time_s] + current

    def bins(self) -> dict[float, dict[str, float]]:
        """Arrivals per movement (veh) of every completed bin, keyed by the bin's start (s)."""
        out: dict[float, dict[str, float]] = {}
        for cam in self._cams.values():
            for index, arrivals in cam.bins.items():
                start = self.origin_s + index * self.bin_s
                row = out.setdefault(start, {})
                row.update({move: float(max(a, 0.0)) for move, a in zip(cam.layout.movements, arrivals)})
        return dict(sorted(out.items()))

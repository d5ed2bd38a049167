"""Queue discharge per green, from stop-line crossings and the signal state read off the video.

For every green interval of a signal head (:class:`vision.signal_head.SignalInterval`) and
the lanes it controls (HCM 2016, ch. 19, "saturation flow rate" and "start-up lost time"):

* ``queue_at_onset_veh``: vehicles stopped in the lanes' zones at green onset;
* ``served_veh`` / ``served_pcu``: vehicles crossing the stop lines during the green (and its
  clearance: a vehicle entering on yellow was served by that green);
* ``headways_s``: the first one from green onset to the first crossing, then between
  successive crossings of the queued vehicles (up to ``queue_at_onset_veh`` of them);
* ``saturation_flow_veh_h_lane``: 3600 over the mean headway of queued vehicles 5 to n
  (the first four carry the start-up loss), divided by the lanes; also in PCU (two-wheelers
  at their PCU weight, :mod:`counting.pcu`); NaN with fewer than 2 such headways;
* ``startup_lost_time_s``: the sum over the first four headways of (headway - saturation
  headway); NaN when the saturation headway is unknown;
* ``residual_queue_veh``: vehicles stopped at the end of the green (a cycle failure if > 0).

A green already under way when the video starts has no onset (``onset_seen`` False): its
served count is real, its headways and lost time are not measured.
:func:`red_light_runners` lists crossings of controlled lanes during red.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from counting.events import CountedMovement, QueueSample
from counting.pcu import DEFAULT_PCU
from vision.signal_head import SignalInterval

SATURATION_SKIP_VEH = 4  # HCM: the first four queued vehicles carry the start-up lost time


@dataclass(frozen=True)
class GreenDischarge:
    """One green of one signal head (see the module docstring for every field)."""

    head: str
    start_s: float
    end_s: float
    onset_seen: bool
    lanes: tuple[str, ...]
    queue_at_onset_veh: int
    served_veh: int
    served_pcu: float
    headways_s: tuple[float, ...]
    saturation_flow_veh_h_lane: float
    saturation_flow_pcu_h_lane: float
    startup_lost_time_s: float
    residual_queue_veh: int


def _stopped_at(samples: Sequence[QueueSample], lanes: Sequence[str], t_s: float) -> int:
    """Vehicles stopped in ``lanes`` at the sample nearest ``t_s`` (0 without samples)."""
    if not samples:
        return 0
    times = np.array(sorted({s.t_s for s in samples}))
    t = float(times[np.argmin(np.abs(times - t_s))])
    return sum(s.stopped for s in samples if s.t_s == t and s.lane in lanes)


def discharge_table(intervals: Mapping[str, Sequence[SignalInterval]], head_lanes: Mapping[str, Sequence[str]],
                    movements: Sequence[CountedMovement], queue_samples: Sequence[QueueSample],
                    pcu_weights: Mapping[int, float] = DEFAULT_PCU) -> list[GreenDischarge]:
    """One row per green of every head; ``head_lanes`` maps head id to the lanes it controls."""
    rows = []
    for head, seq in intervals.items():
        lanes = tuple(head_lanes[head])
        for k, iv in enumerate(seq):
            if iv.colour != "green":
                continue
            end = iv.end_s
            if k + 1 < len(seq) and seq[k + 1].colour == "yellow":
                end = seq[k + 1].end_s
            served = sorted((m for m in movements if m.lane in lanes and iv.start_s <= m.t_s < end),
                            key=lambda m: m.t_s)
            queued = _stopped_at(queue_samples, lanes, iv.start_s)
            times = [m.t_s for m in served]
            headways: tuple[float, ...] = ()
            sat_veh = sat_pcu = lost = float("nan")
            if iv.start_seen and times:
                n_q = max(min(queued, len(times)), 1)
                headways = tuple(np.diff([iv.start_s, *times[:n_q]]).round(3).tolist())
                sat = served[SATURATION_SKIP_VEH:n_q]
                if len(sat) >= 2:
                    span = sat[-1].t_s - served[SATURATION_SKIP_VEH - 1].t_s
                    h_s = span / len(sat)
                    sat_veh = 3600.0 / h_s / len(lanes)
                    pcu = sum(pcu_weights.get(m.class_id, 1.0) for m in sat)
                    sat_pcu = 3600.0 * pcu / span / len(lanes)
                    lost = float(sum(h - h_s for h in headways[:SATURATION_SKIP_VEH]))
            rows.append(GreenDischarge(
                head=head, start_s=iv.start_s, end_s=end, onset_seen=iv.start_seen, lanes=lanes,
                queue_at_onset_veh=queued if iv.start_seen else -1, served_veh=len(served),
                served_pcu=round(sum(pcu_weights.get(m.class_id, 1.0) for m in served), 2),
                headways_s=headways, saturation_flow_veh_h_lane=sat_veh, saturation_flow_pcu_h_lane=sat_pcu,
                startup_lost_time_s=lost, residual_queue_veh=_stopped_at(queue_samples, lanes, end),
            ))
    return rows


def red_light_runners(intervals: Mapping[str, Sequence[SignalInterval]], head_lanes: Mapping[str, Sequence[str]],
                      movements: Sequence[CountedMovement]) -> list[CountedMovement]:
    """Crossings of a head's lanes while it showed red."""
    out = []
    for head, seq in intervals.items():
        lanes = set(head_lanes[head])
        for iv in seq:
            if iv.colour == "red":
                out += [m for m in movements if m.lane in lanes and iv.start_s <= m.t_s < iv.end_s]
    return sorted(out, key=lambda m: m.t_s)

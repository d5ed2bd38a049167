"""``SumoBackend``: the :class:`~controllers.backend.SignalBackend` of a SUMO simulation.

It plays the signal cabinet for every traffic light of a running simulation: one
:class:`~controllers.signal_head.SignalHead` per intersection times yellow, all-red and min
green and refuses conflicting greens, exactly as a cabinet and its conflict monitor would.
Phase commands: ``serve_next`` starts the clearance into the named phase (refused below min
green, like a cabinet ignores a force-off before min green, but loudly: ``PlanError``);
``hold``, ``call`` and ``omit`` need no action here because nothing but ``serve_next`` ends a
green in this backend (a real controller gaps out by itself; see ``controllers.ntcip``).
``ped_call`` is the head's pedestrian call (walk and pedestrian clearance, see
``controllers.signal_head``); with ``pedestrian_recall`` (no pedestrian detection) every
green of a phase with crossings shows its walk.

Red extension (box clearance): a cabinet can extend the all-red from a detector input. The
driver reports, per intersection and incoming lane, vehicles standing inside the junction box
(:meth:`box_occupancy`, from the cameras); when a clearance ends while vehicles from a lane
that the next green stops are still in the box, the all-red is held, at most
``max_box_hold_s`` per change.

The simulation clock is the driver's: call :meth:`tick` once per simulation step, after the
detector inputs and before reading :meth:`status`::

    backend = SumoBackend(sim.intersections, sim.conn, max_box_hold_s=4.0)
    backend.start()
    each step:  backend.box_occupancy(tls, in_box_by_lane); backend.tick(dt_s)
                dispatch(backend, policy.step(now_s, dt_s, frames, backend.status()))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

import numpy as np

from controllers.backend import PhaseCommand, SignalStatus
from controllers.signal_head import SignalHead
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from phasewise_errors import PlanError


class SumoBackend:
    """Every traffic light of one SUMO simulation, driven through phase-level commands."""

    def __init__(self, models: Mapping[str, IntersectionModel], conn: ModuleType, max_box_hold_s: float = 0.0,
                 pedestrian_recall: bool = True):
        self.models = dict(models)
        self.heads = {tls: SignalHead(model, conn, max_box_hold_s=max_box_hold_s, pedestrian_recall=pedestrian_recall)
                      for tls, model in models.items()}
        self.plan: TimingPlan | None = None
        # per tls: phases x incoming lanes, True where the phase shows green on every link of the lane
        self._lane_all_green = {tls: _lane_all_green(model) for tls, model in models.items()}

    def start(self) -> None:
        """Take control of every light from SUMO's own program."""
        for head in self.heads.values():
            head.start()

    # -- detector inputs and the clock ----------------------------------------------------
    def box_occupancy(self, tls_id: str, in_box_by_lane: Mapping[str, int]) -> None:
        """Vehicles standing inside the junction box, per incoming lane they came from (read
        only during a clearance; the driver may skip the call otherwise)."""
        head = self.heads[tls_id]
        if not head.in_clearance:
            return
        lanes, all_green = self._lane_all_green[tls_id]
        stops = ~all_green[head.next_phase]
        head.box_busy = any(in_box_by_lane.get(lane, 0) > 0 for lane, stopped in zip(lanes, stops) if stopped)

    def tick(self, dt_s: float) -> None:
        """Account the simulation step just run on every signal."""
        for head in self.heads.values():
            head.tick(dt_s)

    # -- SignalBackend --------------------------------------------------------------------
    def status(self) -> dict[str, SignalStatus]:
        return {tls: SignalStatus(tls, head.phase, head.green_s, head.next_phase, walk_started_s=head.walk_started_s)
                for tls, head in self.heads.items()}

    def command(self, commands: Sequence[PhaseCommand]) -> None:
        # a green that ends in this batch does not start a walk: serve_next goes first, and a
        # pedestrian call on the phase it ends is then for that phase's next green
        ordered = sorted(commands, key=lambda c: c.kind != "serve_next")
        for command in ordered:
            if command.kind not in ("serve_next", "ped_call"):
                continue
            head = self.heads.get(command.tls_id)
            if head is None:
                raise PlanError(f"no traffic light {command.tls_id} in this simulation")
            if command.kind == "ped_call":
                head.ped_call(command.phase)
            else:
                head.switch_to(command.phase)

    def apply(self, plan: TimingPlan) -> None:
        """Plans bound the policy's greens; the heads need nothing from them."""
        self.plan = plan

    def close(self) -> None:
        """Nothing to release: the simulation ends with the run."""

    @property
    def box_held_s(self) -> float:
        """All-red seconds added for box clearance, over all intersections (for reports)."""
        return sum(head.box_held_s for head in self.heads.values())

    @property
    def walks(self) -> int:
        """Pedestrian walks shown, over all intersections (for reports)."""
        return sum(head.walks for head in self.heads.values())


def _lane_all_green(model: IntersectionModel) -> tuple[tuple[str, ...], np.ndarray]:
    """Incoming lanes and, phases x lanes, whether the phase shows green on all the lane's links."""
    lanes = model.incoming_lanes
    lane_links = [[link.index for link in model.links if link.from_lane == lane] for lane in lanes]
    table = np.array([[all(i in phase.green_links for i in links) for links in lane_links] for phase in model.phases],
                     dtype=bool).reshape(len(model.phases), len(lanes))
    return lanes, table

"""The seam between deciding and signalling: phase-level commands in, signal status out.

A policy (``controllers.adaptive_policy``) decides *which* phase should be green; a
:class:`SignalBackend` makes a signal do it. A real signal cabinet times its own yellow and
all-red and its conflict monitor enforces safety, so what crosses this seam is what a
cabinet accepts: phase-level commands and timing plans, never per-link state strings.

Phases are the :class:`~optimizer.intersection.IntersectionModel`'s green phases (its
``phases`` index); a backend that talks to a NEMA controller maps them to NEMA phases,
rings and barriers itself (``controllers.ntcip``).

Commands are *level* commands for the step they are sent in, the way NTCIP's
``phaseControlGroup*`` bits are: a policy sends, every step, the holds, calls and omits it
wants now; a backend forgets them when the next batch arrives.

* ``hold``: keep ``phase`` green (it is the current green); the cabinet must not end it;
* ``serve_next``: end the current green as soon as its minimum green allows (force-off)
  and make ``phase`` the next green (call it; phases before it in the ring are skipped);
* ``call``: demand for ``phase`` (a vehicle call);
* ``omit``: ``phase`` must not be served this step;
* ``ped_call``: persons wait to cross on a crossing ``phase`` shows walk on: its next green
  shows the walk (NTCIP ``phaseControlGroupPedCall``); sent while ``phase`` is green (and
  not ended by a ``serve_next`` of the same batch), the walk starts now if it is not shown
  already (a recycle), and the green then runs at least walk + pedestrian clearance from there.

Example (one driver step; the SUMO runner and the daemon are loops like this)::

    status = backend.status()
    for command in policy.step(now_s, dt_s, frames, status):
        if isinstance(command, PlanCommand):
            backend.apply(command.plan)
        else:
            backend.command([command])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Union

from optimizer.plan import TimingPlan
from phasewise_errors import PlanError

log = logging.getLogger(__name__)

CommandKind = Literal["hold", "serve_next", "call", "omit", "ped_call"]
COMMAND_KINDS: tuple[CommandKind, ...] = ("hold", "serve_next", "call", "omit", "ped_call")

ControlMode = Literal["engine", "local", "flash", "unknown"]
"""Who runs the signal: ``engine`` = our commands and plans; ``local`` = the controller's
own schedule (we are not in control, e.g. after a communication loss); ``flash``;
``unknown`` when the status could not be read."""


@dataclass(frozen=True)
class PhaseCommand:
    """One phase-level command for one intersection (see the module docstring)."""

    tls_id: str
    kind: CommandKind
    phase: int

    def __post_init__(self) -> None:
        if self.kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command kind {self.kind!r}; one of {', '.join(COMMAND_KINDS)}")


@dataclass(frozen=True)
class PlanCommand:
    """Run this timing plan (cycle, splits, offsets) from now on."""

    plan: TimingPlan


Command = Union[PhaseCommand, PlanCommand]


@dataclass(frozen=True)
class SignalStatus:
    """What one intersection's signal shows now.

    ``phase`` is the green phase shown, or during a clearance the phase being cleared;
    ``green_s`` the seconds it has been green (frozen during the clearance);
    ``next_phase`` the phase a clearance leads to (None when green);
    ``walk_started_s`` the green seconds at which the phase's crossings began to show walk
    this green (None: no walk shown), from when the green runs at least the walk and the
    pedestrian clearance (``IntersectionModel.pedestrian_time_s``).
    """

    tls_id: str
    phase: int
    green_s: float
    next_phase: int | None = None
    mode: ControlMode = "engine"
    walk_started_s: float | None = None

    @property
    def in_clearance(self) -> bool:
        return self.next_phase is not None


class SignalBackend(Protocol):
    """Where commands go: SUMO (``controllers.sumo_backend``) or a real controller."""

    def status(self) -> Mapping[str, SignalStatus]:
        """The status of every intersection this backend drives, keyed by tls id."""
        ...

    def command(self, commands: Sequence[PhaseCommand]) -> None:
        """Send phase-level commands; raises ``ControllerError`` when refused/unreachable."""
        ...

    def apply(self, plan: TimingPlan) -> None:
        """Run ``plan`` (the intersections it names) from now on."""
        ...

    def close(self) -> None:
        """Release the signal: hand control back to the controller's own program."""
        ...


def dispatch(backend: SignalBackend, commands: Iterable[Command]) -> list[PlanError]:
    """Send a policy's output: plans to ``apply``, phase commands in one ``command`` batch.

    A plan the backend refuses (``PlanError``: the safety layer or the controller said no)
    leaves the signal on its running plan; it is logged and returned, and the phase commands
    still go out. Any other error propagates.
    """
    phase_commands: list[PhaseCommand] = []
    refused: list[PlanError] = []
    for command in commands:
        if isinstance(command, PlanCommand):
            try:
                backend.apply(command.plan)
            except PlanError as exc:
                log.warning("plan %s refused, the running plan stays: %s", command.plan.created_by, exc)
                refused.append(exc)
        else:
            phase_commands.append(command)
    backend.command(phase_commands)
    return refused

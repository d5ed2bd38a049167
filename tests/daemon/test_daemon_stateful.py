"""A Hypothesis state machine over the live daemon (issue #23 item 9: search for the next failure).

Each example starts ``phasewise run`` in software in the loop on a fresh state dir
(``sil_site.SilSite``: SUMO, two emulated NTCIP cabinets, the HTTP API) and drives it as
people and operations do, in any order:

* an engineer proposes a plan (``POST /api/plans``): the network's program with greens moved
  a little (valid), or edited into a bad one (an intersection left out, a green NaN, infinite,
  negative or huge, the numbers written as strings) (:class:`PlanEdit`);
* an operator applies a proposal, the program or the running plan
  (``POST /api/plans/{id}/apply``), hands control back to the controllers' own schedule and
  takes it again (``POST /api/control/hand-back``, ``/take-back``);
* the process is killed (SIGKILL) or stopped (SIGTERM) and started again on the same state dir.

After every step, what must hold, seen from outside (API, metrics, probes, state file, SNMP):

* the plan in force is the last one an apply returned 200 for (the network's program before),
  and it covers every intersection of the site;
* every cabinet runs the plan the API says is in force (while control is not released: each
  under central control on a phasewise pattern whose cycle is the running plan's cycle for its
  intersection, or free, timed by phasewise, before any plan was sent); while control is
  released, and always after an operator's hand-back (restarts included), no cabinet is under
  central control;
* ``/healthz`` is 503 whenever steps are failing (``phasewise_step_errors_total`` growing);
* counts never decrease: crossings committed to ``state.sqlite``, and the sum of
  ``GET /api/counts``.

And in the rules: a plan with a NaN, infinite, negative or huge green is refused (422), a valid
one accepted; no request gets a 5xx; an apply while control is handed back is refused (409).

Bounded for CI: ``EXAMPLES`` examples of at most ``STEPS`` steps, no shrinking (each replay
starts the daemon again): a failure prints its steps, at most ``STEPS``. ``PHASEWISE_SHRINK=1``
shrinks to the minimal sequence (minutes). The file takes 1-2 minutes on two busy cores.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests.daemon.sil_site import PHASEWISE_PATTERNS, Cabinet, SilSite

SPEED = 10  # simulated seconds per wall second: traffic to count, actions taken within 0.1 s
EXAMPLES = 4
STEPS = 10
EVENTUALLY_S = 15.0  # an action's effect reaches the API and the cabinets within a few steps
FAILING_WINDOW_S = 0.6  # six steps at speed 10: long enough to see steps still failing
PATTERN_FREE = 254


@dataclass(frozen=True)
class PlanEdit:
    """How a proposal is made from the network's program (``tls``, ``phase``: indices).

    ``valid``: greens of phases 0 and 2 of every intersection moved by ``deltas_s`` (the
    cycle with them; within the safety layer's reach in one cycle from any other such plan);
    ``drop``: intersection ``tls`` left out; ``green``: one green set to ``value``;
    ``strings``: every number of intersection ``tls`` written as a string."""

    kind: str
    tls: int = 0
    phase: int = 0
    value: float = 0.0
    deltas_s: tuple[int, int] = (0, 0)

    def body(self, program: dict) -> dict:
        plan = copy.deepcopy(program)
        plan["created_by"] = f"test {self!r}"
        intersections = plan["intersections"]
        if self.kind == "valid":
            for ip in intersections:
                for index, delta in zip((0, 2), self.deltas_s):
                    ip["phases"][index]["green_s"] += delta
                    ip["cycle_s"] += delta
        elif self.kind == "drop":
            del intersections[self.tls]
        elif self.kind == "green":
            intersections[self.tls]["phases"][self.phase]["green_s"] = self.value
        elif self.kind == "strings":
            ip = intersections[self.tls]
            for key in ("cycle_s", "offset_s", "coordinated_phase"):
                ip[key] = str(ip[key])
            for phase in ip["phases"]:
                for key in phase:
                    phase[key] = str(phase[key])
        return plan


PLAN_EDITS = st.one_of(
    st.builds(PlanEdit, kind=st.just("valid"), deltas_s=st.tuples(st.integers(-3, 3), st.integers(-3, 3))),
    st.builds(PlanEdit, kind=st.just("drop"), tls=st.integers(0, 1)),
    st.builds(PlanEdit, kind=st.just("green"), tls=st.integers(0, 1), phase=st.integers(0, 2),
              value=st.sampled_from([math.nan, math.inf, -math.inf, -10.0, 0.0, 1e6])),
    st.builds(PlanEdit, kind=st.just("strings"), tls=st.integers(0, 1)),
)


def _numbers(plan: dict) -> list:
    return [(ip["tls_id"], ip["cycle_s"], ip["offset_s"], ip["coordinated_phase"],
             [sorted(p.items()) for p in ip["phases"]]) for ip in plan["intersections"]]


class DaemonMachine(RuleBasedStateMachine):
    """One site per example (module docstring); ``base`` is set by the test (pytest's tmp dir).

    What Hypothesis draws never depends on the daemon's answers (proposals are picked by
    recency, ``newest``, not from a bundle filled by the answers), so that a replay draws the
    same steps whatever the daemon does."""

    base: Path
    program: dict | None = None

    def __init__(self) -> None:
        super().__init__()
        tmp = self.base / f"example-{len(list(self.base.iterdir()))}"
        tmp.mkdir()
        self.site = SilSite(tmp, speed=SPEED)
        try:
            self.site.start()
        except BaseException:
            self.site.close()  # no teardown for a machine that did not start
            raise
        if DaemonMachine.program is None:
            DaemonMachine.program = self.site.plans()["program"]["plan"]
        self.intersections = {ip["tls_id"] for ip in self.program["intersections"]}  # type: ignore[index]
        self.in_force = self.program  # the plan the last apply that returned 200 put in force
        self.plan_sent = False  # an apply returned 200: the cabinets hold a phasewise pattern
        self.handed_back = False
        self.proposed: list[str] = []  # ids of the proposals accepted, oldest first
        self.committed = self.api_counted = 0
        self.step_errors = 0.0
        self.restarts = 0

    def teardown(self) -> None:
        self.site.close()

    def where(self) -> str:
        return f"(daemon log: {self.site.log_path})"

    # -- rules --------------------------------------------------------------------------------
    @initialize(edit=PLAN_EDITS)
    def first_proposal(self, edit: PlanEdit) -> None:
        """Every example starts with a proposal, so that an apply can come at any step."""
        self.propose(edit)

    @rule(edit=PLAN_EDITS)
    def propose(self, edit: PlanEdit) -> None:
        body = edit.body(self.program)  # type: ignore[arg-type]
        reply = self.site.call("POST", "/api/plans", "engineer", body)
        assert reply.status < 500, f"propose {edit}: {reply.status} {reply.body[:300]!r} {self.where()}"
        if edit.kind == "green":
            assert reply.status == 422, f"a plan with a green of {edit.value} s was not refused: {reply.status} " \
                                        f"{reply.body[:300]!r}"
        elif edit.kind == "valid":
            assert reply.status == 200, f"a valid plan was refused: {reply.status} {reply.body[:300]!r}"
        elif edit.kind == "strings" and reply.status == 200:  # taken: then as the numbers they spell
            assert _numbers(reply.json()["plan"]) == _numbers(self.program), \
                f"numbers written as strings were taken as something else: {reply.body[:500]!r}"
        else:
            assert reply.status in (200, 422), f"propose {edit}: {reply.status} {reply.body[:300]!r}"
        if reply.status == 200:
            self.proposed.append(reply.json()["id"])

    def _apply(self, plan_id: str) -> None:
        target = self.site.plans().get(plan_id)
        reply = self.site.call("POST", f"/api/plans/{plan_id}/apply", "operator")
        assert reply.status < 500, f"apply {plan_id}: {reply.status} {reply.body[:300]!r} {self.where()}"
        if self.handed_back:
            assert reply.status == 409, f"apply {plan_id} while handed back: {reply.status} {reply.body[:300]!r}"
        elif target is None:
            assert reply.status == 409, f"apply of unknown plan {plan_id}: {reply.status} {reply.body[:300]!r}"
        assert reply.status in (200, 409), f"apply {plan_id}: {reply.status} {reply.body[:300]!r}"
        if reply.status == 200:
            assert target is not None
            self.in_force = target["plan"]
            self.plan_sent = True

    @rule(newest=st.integers(0, 2))
    def apply_proposal(self, newest: int) -> None:
        """Apply the ``newest``-th most recent proposal accepted (0: the last one), if any."""
        if self.proposed:
            self._apply(self.proposed[-1 - min(newest, len(self.proposed) - 1)])

    @rule(plan_id=st.sampled_from(["program", "running"]))
    def apply_named(self, plan_id: str) -> None:
        self._apply(plan_id)

    @rule()
    def hand_back(self) -> None:
        reply = self.site.call("POST", "/api/control/hand-back", "operator")
        assert reply.status == 200, f"hand-back: {reply.status} {reply.body[:300]!r} {self.where()}"
        self.handed_back = True

    @rule()
    def take_back(self) -> None:
        reply = self.site.call("POST", "/api/control/take-back", "operator")
        expected = 200 if self.handed_back else 409
        assert reply.status == expected, f"take-back (handed back: {self.handed_back}): {reply.status} " \
                                         f"{reply.body[:300]!r} {self.where()}"
        self.handed_back = False

    @rule(how=st.sampled_from(["SIGKILL", "SIGTERM"]))
    def restart(self, how: str) -> None:
        if how == "SIGKILL":
            self.site.kill()
        else:
            self.site.terminate()
        self.site.start()
        self.restarts += 1
        self.step_errors = 0.0  # a new process counts from 0

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def probes_fail_while_steps_fail(self) -> None:
        errors = self.site.metric("phasewise_step_errors_total")
        if errors > self.step_errors:  # some failed since the last look:
            time.sleep(FAILING_WINDOW_S)  # are they still failing?
            healthz = self.site.call("GET", "/healthz")
            more = self.site.metric("phasewise_step_errors_total")
            if more > errors:
                assert healthz.status == 503, (
                    f"steps are failing ({more - errors:g} in {FAILING_WINDOW_S:g} s, {more:g} in all) but /healthz "
                    f"says {healthz.status} {healthz.body.decode().strip()} {self.where()}")
            errors = more
        self.step_errors = errors

    @invariant()
    def the_plan_in_force_is_the_last_applied_and_covers_the_site(self) -> None:
        seen: dict = {}

        def consistent() -> bool:
            seen["running"] = running = self.site.running_plan()
            return running["plan"] == self.in_force

        self._eventually(consistent)
        running = seen["running"]
        assert running["plan"] == self.in_force, (
            f"the API's plan in force ({running['created_by']}, cycles {running['cycle_s']}) is not the last one "
            f"applied ({self.in_force['created_by']}, cycles "
            f"{ {ip['tls_id']: ip['cycle_s'] for ip in self.in_force['intersections']} }) {self.where()}")
        assert set(running["cycle_s"]) == self.intersections, (
            f"the plan in force covers {sorted(running['cycle_s'])}, the site has {sorted(self.intersections)} "
            f"{self.where()}")

    @invariant()
    def every_cabinet_runs_the_plan_in_force(self) -> None:
        seen: dict = {}

        def consistent() -> bool:
            seen["health"] = health = self.site.health()
            seen["running"] = running = self.site.running_plan()
            seen["cabinets"] = cabinets = self.site.cabinets()
            if self.handed_back and not (health["control_released"] and health["held_by_operator"]):
                return False
            if health["control_released"]:
                return not any(c.central for c in cabinets.values())
            return all(self._runs(c, running["cycle_s"].get(tls)) for tls, c in cabinets.items())

        if self._eventually(consistent):
            return
        health, running, cabinets = seen["health"], seen["running"], seen["cabinets"]
        if self.handed_back:
            assert health["control_released"] and health["held_by_operator"], (
                f"control was handed back{' before a restart' if self.restarts else ''} but the daemon says released="
                f"{health['control_released']}, held_by_operator={health['held_by_operator']} ({health['ready_reason']}); "
                f"cabinets: {cabinets} {self.where()}")
        if health["control_released"]:
            raise AssertionError(f"control is released ({health['ready_reason']}) but cabinets are under central "
                                 f"control: {cabinets} {self.where()}")
        raise AssertionError(f"the cabinets do not run the plan in force ({running['created_by']}, cycles "
                             f"{running['cycle_s']}; a plan sent: {self.plan_sent}): {cabinets} {self.where()}")

    def _runs(self, cabinet: Cabinet, cycle_s: float | None) -> bool:
        if not cabinet.central or cycle_s is None:
            return False
        if cabinet.pattern in PHASEWISE_PATTERNS:
            return cabinet.cycle_s is not None and abs(cabinet.cycle_s - cycle_s) <= 1.0
        return cabinet.pattern == PATTERN_FREE and not self.plan_sent  # timed by phasewise's commands

    @invariant()
    def counts_never_decrease(self) -> None:
        committed, api = self.site.committed_counts(), self.site.api_counts_total()
        assert committed >= self.committed, f"committed counts went from {self.committed} to {committed} {self.where()}"
        assert api >= self.api_counted, (
            f"GET /api/counts went from {self.api_counted} to {api} vehicles"
            f"{' (after a restart)' if self.restarts else ''} {self.where()}")
        self.committed, self.api_counted = committed, api

    def _eventually(self, condition: Callable[[], bool]) -> bool:
        end = time.monotonic() + EVENTUALLY_S
        while True:
            if condition():
                return True
            if time.monotonic() > end:
                return False
            time.sleep(0.25)


def test_the_daemon_keeps_its_promises_under_any_sequence_of_actions(tmp_path: Path) -> None:
    DaemonMachine.base = tmp_path
    shrink = os.environ.get("PHASEWISE_SHRINK") == "1"
    run_state_machine_as_test(DaemonMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        phases=list(Phase) if shrink else [Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck)))

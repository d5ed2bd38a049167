"""The strategic layer in a worker: re-optimization and the SUMO gate never block the loop.

The loop hands over the policy's :class:`~controllers.adaptive_policy.ReplanRequest` with
:meth:`StrategicWorker.submit` (ignored while one is still being worked on) and collects the
outcome with :meth:`StrategicWorker.poll`, which never waits. A job that fails or takes longer
than ``deadline_s`` is given up: the running plan stays (the gate fails closed on its own
after its ``timeout_s``; the deadline covers the optimizer and a gate that hangs). A given-up
job's late result is discarded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from controllers.adaptive_policy import PlanEvaluator, ReplanRequest
from controllers.gate import GateDecision
from optimizer.plan import TimingPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StrategicOutcome:
    """What became of one request: ``status`` is switch, keep, no-candidate, timeout or error."""

    request: ReplanRequest
    status: str
    candidate: TimingPlan | None = None
    decision: GateDecision | None = None
    detail: str = ""
    wall_s: float = 0.0


class StrategicWorker:
    def __init__(self, propose: Callable[[ReplanRequest], TimingPlan | None], evaluator: PlanEvaluator | None,
                 deadline_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.propose, self.evaluator, self.deadline_s, self._monotonic = propose, evaluator, deadline_s, monotonic
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strategic")
        self._job: tuple[ReplanRequest, Future[StrategicOutcome], float] | None = None

    @property
    def wall_budget_s(self) -> float | None:
        """The gate's wall-clock limit per call (None without a gate or without a limit)."""
        return getattr(getattr(self.evaluator, "config", None), "timeout_s", None)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def submit(self, request: ReplanRequest) -> bool:
        if self._job is not None:
            log.info("strategic layer still busy with the request of %.0f s; skipping %.0f s",
                     self._job[0].time_s, request.time_s)
            return False
        self._job = (request, self._pool.submit(self._work, request), self._monotonic())
        return True

    def _work(self, request: ReplanRequest) -> StrategicOutcome:
        started = time.perf_counter()
        candidate = self.propose(request)
        if candidate is None:
            return StrategicOutcome(request, "no-candidate", wall_s=time.perf_counter() - started)
        decision = None
        if self.evaluator is not None:
            decision = self.evaluator.evaluate(request.current, candidate, request.demand, request.queues_veh,
                                               now_s=request.time_s)
        status = "switch" if decision is None or decision.switch else "keep"
        return StrategicOutcome(request, status, candidate, decision, decision.reason if decision else "no gate",
                                time.perf_counter() - started)

    def poll(self) -> StrategicOutcome | None:
        """The finished job's outcome, a timeout/error outcome, or None (nothing finished)."""
        if self._job is None:
            return None
        request, future, started = self._job
        if future.done():
            self._job = None
            try:
                return future.result()
            except Exception as exc:  # optimizer/gate bug: keep the running plan
                log.error("strategic layer failed, keeping the running plan: %r", exc)
                return StrategicOutcome(request, "error", detail=repr(exc))
        if self._monotonic() - started > self.deadline_s:
            self._job = None  # given up; its thread finishes on its own, the result is dropped
            log.warning("strategic layer: no answer after %.0f s, keeping the running plan", self.deadline_s)
            return StrategicOutcome(request, "timeout", detail=f"no answer after {self.deadline_s:g} s")
        return None

    def abandon(self) -> None:
        """Stop now: a running job is dropped, not awaited (its worker processes are the
        caller's to kill); nothing more is started."""
        self._job = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.abandon()
        if self.evaluator is not None:
            self.evaluator.close()

"""A controller that stops answering never stalls the 1 s step (``controller_link.py``).

The daemon's loop drives a real emulated cabinet through its SNMP agent on loopback (the
NTCIP backend behind the safety layer, as ``phasewise run`` builds it); the agent is stopped
mid-run and started again on the same port.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest

from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from daemon.clock import SteppedClock
from daemon.controller_link import STEP_RETRY, fits_step, step_settings, worst_case_s
from daemon.loop import Daemon, DaemonSettings
from daemon.prometheus import Metrics
from daemon.store import StateStore
from daemon.strategic import StrategicWorker
from controllers.ntcip.agent import NtcipAgent
from controllers.ntcip.backend import AgentAddress, NtcipBackend
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.client import RetryPolicy
from controllers.ntcip.credentials import V2cCredentials
from controllers.safety import SafeBackend
from tests.daemon.test_loop import LAYOUTS, START_S, FakeCameras, cross_model


def serve(cabinet: Cabinet, port: int) -> NtcipAgent:
    return NtcipAgent({"X": cabinet}, host="127.0.0.1", port=port, community="public").start()


def test_request_worst_case_counts_every_attempt_and_pause() -> None:
    assert worst_case_s(RetryPolicy(timeout_s=0.4, attempts=3, backoff_s=0.1)) == pytest.approx(1.5)
    assert not fits_step(RetryPolicy(timeout_s=0.4, attempts=3, backoff_s=0.1))
    assert fits_step(STEP_RETRY) and 2 * worst_case_s(STEP_RETRY) < DaemonSettings().step_s


def test_stopped_agent_costs_each_step_less_than_its_second_and_control_resumes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = cross_model()
    clock = SteppedClock(START_S, speed=0)
    cabinet = Cabinet.from_model(model, start_s=START_S)
    agent = serve(cabinet, 0)
    port = agent.ports["X"]

    def backend() -> SafeBackend:
        ntcip = NtcipBackend.from_models({"X": model}, {"X": AgentAddress("127.0.0.1", port)},
                                         V2cCredentials(community="public"),  # type: ignore[arg-type]
                                         step_settings(), clock=clock.now_s)
        return SafeBackend(ntcip, {"X": model}, clock=clock.now_s)

    metrics = Metrics()
    policy = AdaptivePolicy({"X": model}, LAYOUTS, clock.now_s(), AdaptiveConfig(replan_s=1e9, use_gate=False),
                            strategic_inline=False)
    daemon = Daemon(policy, FakeCameras(), backend, StrategicWorker(policy.candidate_plan, None, 60.0),
                    StateStore(tmp_path / "state", metrics), clock, metrics, DaemonSettings())

    def steps(n: int) -> list[float]:
        before = len(daemon.step_seconds)
        for _ in range(n):
            daemon.step()
            clock.advance(1.0)
            with agent.lock if agent is not None else nullcontext():
                cabinet.tick(1.0)
        return list(daemon.step_seconds)[before:]

    try:
        daemon.start()
        steps(3)
        assert metrics.get("phasewise_controller_up", tls="X") == 1.0
        agent.stop()
        agent = None
        caplog.clear()
        down = steps(12)
        assert metrics.get("phasewise_controller_up", tls="X") == 0.0
        assert metrics.get("phasewise_step_errors_total") == 0.0
        # the silent controller is asked once per request and again only after growing pauses:
        # no step waits for it longer than one step (the default retries took ~1.6 s)
        assert max(down) < DaemonSettings().step_s, down
        # asked again after pauses of 1, 2, 4 s (at 0, 1, 3, 7 s of the 12): not every step
        tries = [r for r in caplog.records if "controller unreachable" in r.getMessage()]
        assert 1 <= len(tries) <= 4, [r.getMessage() for r in tries]
        agent = serve(cabinet, port)
        steps(10)  # the next try is at most 8 s away
        assert metrics.get("phasewise_controller_up", tls="X") == 1.0 and daemon.ready()[0]
    finally:
        daemon.shutdown()
        if agent is not None:
            agent.stop()


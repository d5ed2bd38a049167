"""Software in the loop: SafeBackend -> NtcipBackend -> SNMP (UDP) -> agent -> cabinet -> monitor.

A naive policy (serve the next phase whenever the safety layer lets it, now and then a plan or a
hold of the wrong phase) drives the emulated cabinet over the wire; the cabinet-side conflict
monitor sees no unsafe state and the safety layer refuses what it must.
"""

from __future__ import annotations

import random

from pydantic import SecretStr

from controllers.backend import PhaseCommand
from controllers.ntcip.agent import NtcipAgent
from controllers.ntcip.backend import AgentAddress, NtcipBackend, NtcipSettings
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.client import RetryPolicy
from controllers.ntcip.credentials import V2cCredentials
from controllers.ntcip.monitor import ConflictMonitor
from controllers.safety import SafeBackend
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise_errors import PlanError

TLS = "four"
STEPS = 150


def test_safe_backend_over_snmp_keeps_the_cabinet_safe(four_phase: IntersectionModel) -> None:
    rng = random.Random(7)
    cabinet = Cabinet.from_model(four_phase, backup_time_s=30)
    monitor = ConflictMonitor(cabinet.mapping)
    with NtcipAgent({TLS: cabinet}, port=0) as agent:
        inner = NtcipBackend.from_models(
            {TLS: four_phase}, {TLS: AgentAddress("127.0.0.1", agent.ports[TLS])},
            V2cCredentials(community=SecretStr("public")),
            NtcipSettings(retry=RetryPolicy(timeout_s=0.5, attempts=2, backoff_s=0.05)),
            clock=lambda: cabinet.now_s,
        )
        safe = SafeBackend(inner, {TLS: four_phase}, mappings={TLS: cabinet.mapping}, clock=lambda: cabinet.now_s)
        served = set()
        try:
            for step in range(STEPS):
                status = safe.status()[TLS]
                commands = [PhaseCommand(TLS, "serve_next", (status.phase + 1) % 4)]
                if rng.random() < 0.2:
                    commands.append(PhaseCommand(TLS, "hold", rng.randrange(4)))
                safe.command(commands)
                if step == 60:
                    greens = (rng.choice([2.0, 20.0]), 25.0, 15.0, 25.0)
                    phases = tuple(PhaseTiming(k, g, 3.0, 1.0, 5.0, 40.0) for k, g in enumerate(greens))
                    plan = TimingPlan({TLS: IntersectionPlan(TLS, sum(p.split_s for p in phases), 0.0, phases, 1)}, "test")
                    try:
                        safe.apply(plan)
                    except PlanError:
                        pass
                with agent.lock:
                    cabinet.tick(1.0)
                    monitor.observe(cabinet.now_s, cabinet.display())
                if not status.in_clearance:
                    served.add(status.phase)
        finally:
            safe.close()
    assert monitor.violations == []
    assert served == {0, 1, 2, 3}  # the policy did run the intersection
    assert any("needs 5 s" in str(r) for r in safe.refusals)  # and was stopped cutting min green

"""NtcipBackend against the emulated cabinet behind its SNMP agent (SNMPv3 authPriv, UDP).

The second real agent: unlike snmpsim, the cabinet times its phases, obeys (or refuses)
holds, force-offs and patterns, and falls back to its own schedule. The backend's clock is
the cabinet's, which the test advances under the agent's lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from pydantic import SecretStr

from controllers.backend import PhaseCommand
from controllers.ntcip.agent import NtcipAgent, SnmpUser
from controllers.ntcip.backend import AgentAddress, NtcipBackend, NtcipSettings
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.client import RetryPolicy
from controllers.ntcip.credentials import V3Credentials
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise_errors import ControllerError

USER = SnmpUser(name="phasewise", auth_key="cabinet-auth-1", priv_key="cabinet-priv-1")
TLS = "four"


@dataclass
class Site:
    agent: NtcipAgent
    cabinet: Cabinet
    backend: NtcipBackend

    def run(self, seconds: int) -> None:
        """Advance the cabinet (and so the backend's clock) by whole seconds."""
        with self.agent.lock:
            for _ in range(seconds):
                self.cabinet.tick(1.0)

    def read(self, name: str, *index: int) -> int | str:
        with self.agent.lock:
            return self.cabinet.read(name, index)


@pytest.fixture
def site(four_phase: IntersectionModel) -> Iterator[Site]:
    cabinet = Cabinet.from_model(four_phase, backup_time_s=30)
    with NtcipAgent({TLS: cabinet}, port=0, community=None, users=[USER]) as agent:
        credentials = V3Credentials(user=USER.name, auth_key=SecretStr(USER.auth_key), priv_key=SecretStr(USER.priv_key))
        backend = NtcipBackend.from_models(
            {TLS: four_phase},
            {TLS: AgentAddress("127.0.0.1", agent.ports[TLS])},
            credentials,
            NtcipSettings(retry=RetryPolicy(timeout_s=0.5, attempts=2, backoff_s=0.05)),
            clock=lambda: cabinet.now_s,
        )
        site = Site(agent, cabinet, backend)
        site.run(2)
        try:
            yield site
        finally:
            backend.close()


def plan_for(model: IntersectionModel, greens_s: tuple[float, ...], offset_s: float = 0.0,
             min_green_s: float | None = None) -> TimingPlan:
    phases = tuple(
        PhaseTiming(k, g, model.yellow_s, model.all_red_s,
                    model.phases[k].min_green_s if min_green_s is None else min_green_s, model.phases[k].max_green_s)
        for k, g in enumerate(greens_s)
    )
    cycle_s = sum(p.split_s for p in phases)
    return TimingPlan({TLS: IntersectionPlan(TLS, cycle_s, offset_s, phases, coordinated_phase=1)}, "test")


def test_status_follows_the_cabinet_and_commands_take_effect(site):
    status = site.backend.status()[TLS]
    assert status.mode == "local"  # its own schedule (pattern 1) until we command
    site.backend.command([PhaseCommand(TLS, "hold", status.phase)] if not status.in_clearance else [])
    site.run(3)
    status = site.backend.status()[TLS]
    assert status.mode == "engine"
    while status.in_clearance:  # reach a green
        site.backend.command([])
        site.run(1)
        status = site.backend.status()[TLS]
    held = status.phase
    for _ in range(45):  # a hold keeps the green far past its max (40 s)
        site.backend.command([PhaseCommand(TLS, "hold", held)])
        site.run(1)
    status = site.backend.status()[TLS]
    assert (status.phase, status.in_clearance) == (held, False)
    assert status.green_s >= 45
    target = (held + 2) % 4
    site.backend.command([PhaseCommand(TLS, "serve_next", target)])
    seen_clearance = False
    for _ in range(15):
        site.run(1)
        status = site.backend.status()[TLS]
        if status.in_clearance:
            seen_clearance = True
            assert (status.phase, status.next_phase) == (held, target)
        elif status.phase == target:
            break
        site.backend.command([])
    assert seen_clearance and status.phase == target and status.green_s < 15


def test_plan_is_downloaded_in_a_transaction_and_runs(site, four_phase):
    site.backend.apply(plan_for(four_phase, (20.0, 30.0, 15.0, 25.0), offset_s=12.0))
    assert site.read("systemPatternControl") == 15
    assert site.read("coordPatternStatus") == 15
    assert site.read("patternCycleTime", 15) == 90 + 4 * 4 and site.read("patternOffsetTime", 15) == 12
    assert site.read("splitTime", 15, 2) == 34  # model phase 1 = NEMA phase 2: 30 + 3 + 1
    assert site.read("dbCreateTransaction") == 1  # back to normal, committed
    site.run(5)
    assert site.backend.status()[TLS].mode == "engine"
    site.backend.apply(plan_for(four_phase, (25.0, 25.0, 15.0, 25.0)))  # next plan: the other pattern
    assert site.read("coordPatternStatus") == 16


def test_a_pattern_the_cabinet_refuses_keeps_the_running_one(site, four_phase):
    site.backend.apply(plan_for(four_phase, (20.0, 30.0, 15.0, 25.0)))
    assert site.read("coordPatternStatus") == 15
    # a plan made for 2 s minimum greens: the cabinet's phase table says 5 s, so its
    # database check refuses pattern 16
    with pytest.raises(ControllerError, match="refused the pattern: pattern 16: bad_cycle_time"):
        site.backend.apply(plan_for(four_phase, (2.0, 30.0, 15.0, 25.0), min_green_s=2.0))
    assert site.read("systemPatternControl") == 15 and site.read("coordPatternStatus") == 15
    assert site.read("dbCreateTransaction") == 1
    site.backend.command([])
    assert site.read("systemPatternControl") == 15


def test_a_dead_engine_hands_control_back_after_the_backup_time(site):
    site.backend.command([])
    site.run(2)
    assert site.backend.status()[TLS].mode == "engine"
    site.run(31)  # no command, no status: the engine died
    assert site.read("unitControlStatus") == 4  # backupMode
    assert site.backend.status()[TLS].mode == "local"
    site.backend.command([])  # the engine is back: central control again
    site.run(1)
    assert site.backend.status()[TLS].mode == "engine"


def test_close_releases_the_controller(site):
    site.backend.command([PhaseCommand(TLS, "call", 2)])
    assert site.read("phaseControlGroupVehCall", 1) == 0b0100
    site.backend.close()
    assert site.read("phaseControlGroupVehCall", 1) == 0
    assert site.read("systemPatternControl") == 0
    site.run(1)
    assert site.read("unitControlStatus") != 2  # not under central control any more


@pytest.fixture
def two_sites(four_phase: IntersectionModel) -> Iterator[tuple[dict[str, Cabinet], NtcipAgent, type]]:
    """Two cabinets ("a", "b") behind one agent, and a backend class whose ``b`` may refuse
    the switch (``refuse_switch``): the seam where a controller says no after storing."""
    from controllers.ntcip.client import RequestRefused

    class Backend(NtcipBackend):
        refuse_switch = False

        async def _select(self, link, target):  # type: ignore[no-untyped-def]
            if self.refuse_switch and link.tls_id == "b":
                raise RequestRefused("b will not switch (test)")
            await super()._select(link, target)

    cabinets = {tls: Cabinet.from_model(four_phase, backup_time_s=30) for tls in ("a", "b")}
    with NtcipAgent(cabinets, port=0, community=None, users=[USER]) as agent:
        yield cabinets, agent, Backend


def two_backend(cabinets, agent, cls, four_phase):  # type: ignore[no-untyped-def]
    credentials = V3Credentials(user=USER.name, auth_key=SecretStr(USER.auth_key), priv_key=SecretStr(USER.priv_key))
    return cls.from_models({tls: four_phase for tls in cabinets},
                           {tls: AgentAddress("127.0.0.1", agent.ports[tls]) for tls in cabinets}, credentials,
                           NtcipSettings(retry=RetryPolicy(timeout_s=0.5, attempts=2, backoff_s=0.05)),
                           clock=lambda: cabinets["a"].now_s)


def both(four_phase, greens_s, b_greens_s=None, b_min_green_s=None):  # type: ignore[no-untyped-def]
    a = plan_for(four_phase, greens_s).intersections[TLS]
    b = plan_for(four_phase, b_greens_s or greens_s, min_green_s=b_min_green_s).intersections[TLS]
    return TimingPlan({"a": replace(a, tls_id="a"), "b": replace(b, tls_id="b")}, "test")


def read(agent, cabinet, name):  # type: ignore[no-untyped-def]
    with agent.lock:
        return cabinet.read(name, ())


def test_a_plan_one_cabinet_refuses_runs_on_none(two_sites, four_phase):
    cabinets, agent, cls = two_sites
    backend = two_backend(cabinets, agent, cls, four_phase)
    try:
        backend.apply(both(four_phase, (20.0, 30.0, 15.0, 25.0)))
        assert [read(agent, c, "coordPatternStatus") for c in cabinets.values()] == [15, 15]
        # b's database check refuses 2 s minimum greens: a must not switch either
        with pytest.raises(ControllerError, match="every controller keeps its running pattern: b: .*bad_cycle_time"):
            backend.apply(both(four_phase, (25.0, 25.0, 15.0, 25.0), (2.0, 30.0, 15.0, 25.0), b_min_green_s=2.0))
        assert [read(agent, c, "systemPatternControl") for c in cabinets.values()] == [15, 15]
        backend.command([])
        assert [read(agent, c, "systemPatternControl") for c in cabinets.values()] == [15, 15]
    finally:
        backend.close()


def test_a_cabinet_that_refuses_the_switch_gets_the_others_switched_back(two_sites, four_phase):
    cabinets, agent, cls = two_sites
    backend = two_backend(cabinets, agent, cls, four_phase)
    try:
        backend.apply(both(four_phase, (20.0, 30.0, 15.0, 25.0)))
        backend.refuse_switch = True
        with pytest.raises(ControllerError, match="b will not switch .*switched back: a"):
            backend.apply(both(four_phase, (25.0, 25.0, 15.0, 25.0)))
        assert [read(agent, c, "systemPatternControl") for c in cabinets.values()] == [15, 15]
        backend.command([])  # and every later command keeps them there
        assert [read(agent, c, "systemPatternControl") for c in cabinets.values()] == [15, 15]
        backend.refuse_switch = False
        backend.apply(both(four_phase, (25.0, 25.0, 15.0, 25.0)))
        assert [read(agent, c, "systemPatternControl") for c in cabinets.values()] == [16, 16]
    finally:
        backend.close()


def test_a_pedestrian_call_walks_and_the_status_shows_it(two_phase: IntersectionModel) -> None:
    """``ped_call`` goes out as ``phaseControlGroupPedCall``; the status reports the walk
    (``walk_started_s``, from ``phaseStatusGroupWalks/PedClears``), and the safety layer keeps
    that green until walk and clearance are over."""
    from controllers.safety import SafeBackend
    from optimizer.intersection import Crossing

    phases = tuple(replace(p, state=p.state + c) for p, c in zip(two_phase.phases, ("Gr", "rG")))
    model = replace(two_phase, tls_id="ped", phases=phases,
                    crossings=(Crossing(4, ":ped_c0", 9.6), Crossing(5, ":ped_c1", 6.4)))
    cabinet = Cabinet.from_model(model, backup_time_s=30, ped_recall=())
    with NtcipAgent({"ped": cabinet}, port=0, community=None, users=[USER]) as agent:
        credentials = V3Credentials(user=USER.name, auth_key=SecretStr(USER.auth_key), priv_key=SecretStr(USER.priv_key))
        backend = NtcipBackend.from_models({"ped": model}, {"ped": AgentAddress("127.0.0.1", agent.ports["ped"])},
                                           credentials, NtcipSettings(retry=RetryPolicy(timeout_s=0.5, attempts=2)),
                                           clock=lambda: cabinet.now_s)
        site = Site(agent, cabinet, backend)
        safe = SafeBackend(backend, {"ped": model}, clock=lambda: cabinet.now_s)
        try:
            status = safe.status()["ped"]
            for _ in range(40):  # call the walk of phase 1 and go there
                wanted = [PhaseCommand("ped", "ped_call", 1)]
                if status.phase == 0 and not status.in_clearance and status.green_s >= 5:
                    wanted.append(PhaseCommand("ped", "serve_next", 1))
                safe.command(wanted)
                site.run(1)
                status = safe.status()["ped"]
                if status.phase == 1 and not status.in_clearance:
                    break
            assert status.phase == 1 and status.walk_started_s is not None and status.walk_started_s <= 1.0
            assert site.read("phaseStatusGroupWalks", 1) != 0
            safe.command([PhaseCommand("ped", "serve_next", 0)])  # 7 s walk + 6 s clearance not over
            assert "pedestrian clearance" in str(safe.refusals[-1])
            assert not any(isinstance(e, ControllerError) and "ped_call" in str(e) for e in safe.refusals)
        finally:
            backend.close()

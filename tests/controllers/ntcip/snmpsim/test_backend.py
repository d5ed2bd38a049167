"""NtcipBackend against snmpsim: status decoding, phase commands, plans, failures.

snmpsim plays a controller whose objects do not move by themselves: the tests move the
signal by writing ``phaseStatusGroup*`` through an independent client (snmpsim lets them be
written) and read back what the backend wrote. One agent serves the module; each test starts
from the snmprec's values (``INITIAL``); the two that need another agent start their own. The controller's own behaviour (timing,
honouring holds) is tested against the cabinet agent (``test_backend_cabinet.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from controllers.backend import PhaseCommand
from controllers.ntcip import oids
from controllers.ntcip.backend import AgentAddress, NtcipBackend, NtcipSettings
from controllers.ntcip.client import RetryPolicy, SnmpClient
from controllers.ntcip.credentials import V2cCredentials
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise_errors import ControllerError

FAST = RetryPolicy(timeout_s=0.15, attempts=2, backoff_s=0.05)
TLS = "J1"


@dataclass(frozen=True)
class DualRingMap:
    """Four stages on a standard dual ring: 0 = {2, 6}, 1 = {4, 8}, 2 = {1, 5}, 3 = {3, 7}."""

    stages: dict[int, tuple[int, ...]] = field(default_factory=lambda: {0: (2, 6), 1: (4, 8), 2: (1, 5), 3: (3, 7)})
    nema_phases_used: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)

    def nema_phases(self, model_phase: int) -> tuple[int, ...]:
        return self.stages[model_phase]

    def model_phase(self, green_nema_phases: frozenset[int]) -> int | None:
        for phase, nema in self.stages.items():
            if frozenset(nema) == green_nema_phases:
                return phase
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def bits(*phases: int) -> int:
    return oids.phase_masks(phases)[1]


@pytest.fixture
def agent(shared_snmpsim_agent):
    return shared_snmpsim_agent


INITIAL = {
    oids.GREENS.instance(1): 0b00100010,  # phases 2 and 6: model phase 0
    oids.YELLOWS.instance(1): 0,
    oids.REDS.instance(1): 0b11011101,
    **{obj.instance(1): 0 for obj in (oids.HOLD, oids.FORCE_OFF, oids.VEH_CALL, oids.PHASE_OMIT)},
    oids.SYSTEM_PATTERN_CONTROL.instance(): 0,
    oids.UNIT_CONTROL_STATUS.instance(): oids.UnitControlStatus.TIMEBASE,
    oids.UNIT_FLASH_STATUS.instance(): oids.UnitFlashStatus.NOT_FLASH,
    oids.COORD_PATTERN_STATUS.instance(): 0,
    oids.LOCAL_FREE_STATUS.instance(): oids.LocalFreeStatus.NOT_FREE,
}
"""The snmprec's values of everything a test here changes: each test starts from them."""


@pytest.fixture(scope="module")
def probe_client(shared_snmpsim_agent):
    client = SnmpClient(shared_snmpsim_agent.host, shared_snmpsim_agent.port, shared_snmpsim_agent.v2c, FAST)
    yield client
    client.close()


@pytest.fixture
def probe(probe_client):
    """An independent client: resets the shared agent, moves the simulated signal, reads what
    the backend wrote."""
    probe_client.set(INITIAL)
    return probe_client


def make_backend(agent, clock, settings=None, v3=True):
    credentials = agent.v3() if v3 else agent.v2c
    settings = settings or NtcipSettings(retry=FAST)
    return NtcipBackend({TLS: AgentAddress(agent.host, agent.port)}, {TLS: DualRingMap()}, credentials, settings, clock)


def show(probe, greens=0, yellows=0, reds=0):
    probe.set({oids.GREENS.instance(1): greens, oids.YELLOWS.instance(1): yellows, oids.REDS.instance(1): reds})


def control_bits(probe):
    objects = (oids.HOLD, oids.FORCE_OFF, oids.VEH_CALL, oids.PHASE_OMIT)
    values = probe.get([o.instance(1) for o in objects] + [oids.SYSTEM_PATTERN_CONTROL.instance()])
    names = ("hold", "force_off", "veh_call", "omit", "pattern")
    return dict(zip(names, values.values()))


def test_status_maps_greens_to_model_phases_and_times_greens_with_the_clock(agent, probe):
    clock = FakeClock()
    backend = make_backend(agent, clock)
    try:
        status = backend.status()[TLS]
        assert (status.phase, status.green_s, status.next_phase, status.mode) == (0, 0.0, None, "local")
        clock.now_s = 5.0
        assert backend.status()[TLS].green_s == 5.0
        clock.now_s = 7.0
        show(probe, yellows=bits(2, 6), reds=bits(1, 3, 4, 5, 7, 8))
        status = backend.status()[TLS]
        assert status.in_clearance and status.phase == 0 and status.green_s == 5.0
        clock.now_s = 11.0
        show(probe, greens=bits(4, 8), reds=bits(1, 2, 3, 5, 6, 7))
        status = backend.status()[TLS]
        assert (status.phase, status.green_s, status.in_clearance) == (1, 0.0, False)
        clock.now_s = 14.5
        assert backend.status()[TLS].green_s == 3.5
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("control_status", "flash_status", "mode"),
    [(2, 2, "engine"), (6, 2, "local"), (4, 2, "local"), (2, 4, "flash"), (6, 6, "flash")],
)
def test_mode_from_unit_control_and_flash_status(agent, probe, control_status, flash_status, mode):
    probe.set({oids.UNIT_CONTROL_STATUS.instance(): control_status, oids.UNIT_FLASH_STATUS.instance(): flash_status})
    backend = make_backend(agent, FakeClock(), v3=False)
    try:
        assert backend.status()[TLS].mode == mode
    finally:
        backend.close()


def test_commands_are_level_bit_masks_in_one_set_with_the_pattern_watchdog(agent, probe):
    backend = make_backend(agent, FakeClock())
    try:
        backend.status()
        backend.command([PhaseCommand(TLS, "hold", 0), PhaseCommand(TLS, "call", 2)])
        assert control_bits(probe) == {"hold": bits(2, 6), "force_off": 0, "veh_call": bits(1, 5), "omit": 0,
                                       "pattern": oids.PATTERN_FREE}
        backend.command([PhaseCommand(TLS, "serve_next", 1)])
        assert control_bits(probe) == {"hold": 0, "force_off": bits(2, 6), "veh_call": bits(4, 8),
                                       "omit": bits(1, 3, 5, 7), "pattern": oids.PATTERN_FREE}
        backend.command([])  # nothing this step: every bit cleared
        assert control_bits(probe) == {"hold": 0, "force_off": 0, "veh_call": 0, "omit": 0,
                                       "pattern": oids.PATTERN_FREE}
        with pytest.raises(ControllerError, match="no controller configured for intersection J9"):
            backend.command([PhaseCommand("J9", "hold", 0)])
    finally:
        backend.close()
    assert control_bits(probe)["pattern"] == oids.PATTERN_STANDBY


def test_status_rewrites_the_pattern_within_a_third_of_the_backup_time(agent, probe):
    clock = FakeClock()
    backend = make_backend(agent, clock)  # the snmprec's unitBackupTime is 60 s
    try:
        backend.command([])
        probe.set({oids.SYSTEM_PATTERN_CONTROL.instance(): 0})  # e.g. someone at the cabinet
        clock.now_s = 15.0
        backend.status()
        assert control_bits(probe)["pattern"] == 0
        clock.now_s = 21.0
        backend.status()
        assert control_bits(probe)["pattern"] == oids.PATTERN_FREE
    finally:
        backend.close()


def test_a_set_applied_in_part_is_restored_and_reported(snmpsim_agent, tmp_path):
    # This controller accepts holds but refuses any omit (commitFailed); snmpsim, like a
    # careless agent, keeps the hold it wrote before failing on the omit.
    text = oids.PHASE_OMIT.dotted + ".1|2:writecache|value=0"
    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / "ntcip.snmprec"
    original = (Path(__file__).parent.parent / "data" / "ntcip.snmprec").read_text()
    assert text in original
    source.write_text(original.replace(text, text + ",vlist=gt:0:commitfailed"))
    agent = snmpsim_agent(source)
    probe = SnmpClient(agent.host, agent.port, agent.v2c, FAST)
    backend = make_backend(agent, FakeClock())
    try:
        backend.command([PhaseCommand(TLS, "hold", 0)])
        assert control_bits(probe)["hold"] == bits(2, 6)
        with pytest.raises(ControllerError, match="commitFailed"):
            backend.command([PhaseCommand(TLS, "hold", 2), PhaseCommand(TLS, "omit", 3)])
        # the new hold the agent kept was put back to the last accepted step's
        assert control_bits(probe)["hold"] == bits(2, 6)
    finally:
        backend.close()
        probe.close()


def four_phase_plan(offset_s=10.0):
    phases = tuple(
        PhaseTiming(phase=p, green_s=g, yellow_s=4.0, all_red_s=2.0, min_green_s=5.0, max_green_s=60.0)
        for p, g in ((0, 30.4), (2, 10.3), (1, 20.6), (3, 8.7))
    )
    cycle_s = sum(p.split_s for p in phases)
    return TimingPlan({TLS: IntersectionPlan(TLS, cycle_s, offset_s, phases, coordinated_phase=0)}, "test")


def test_apply_downloads_into_the_idle_pattern_reads_back_and_selects_it(agent, probe):
    backend = make_backend(agent, FakeClock())  # patterns 15 and 16, split rows 15 and 16
    try:
        backend.apply(four_phase_plan())
        split = {p: probe.get([oids.SPLIT_TIME.instance(15, p)])[oids.SPLIT_TIME.instance(15, p)] for p in range(1, 9)}
        # whole seconds, largest remainder: 36.4, 16.3, 26.6, 14.7 -> 36, 16, 27, 15 (cycle 94)
        assert split == {2: 36, 6: 36, 1: 16, 5: 16, 4: 27, 8: 27, 3: 15, 7: 15}
        pattern = probe.get([oids.PATTERN_CYCLE_TIME.instance(15), oids.PATTERN_OFFSET_TIME.instance(15),
                             oids.PATTERN_SPLIT_NUMBER.instance(15), oids.SPLIT_COORD_PHASE.instance(15, 2),
                             oids.SPLIT_COORD_PHASE.instance(15, 4)])
        assert list(pattern.values()) == [94, 10, 15, 1, 0]
        assert control_bits(probe)["pattern"] == 15
        backend.apply(four_phase_plan(offset_s=20.0))  # the next plan goes to the other pattern
        assert control_bits(probe)["pattern"] == 16
        assert probe.get([oids.PATTERN_OFFSET_TIME.instance(16)])[oids.PATTERN_OFFSET_TIME.instance(16)] == 20
        backend.command([])  # phase commands keep the plan's pattern selected
        assert control_bits(probe)["pattern"] == 16
    finally:
        backend.close()


def test_a_pattern_number_the_controller_refuses_keeps_the_running_one(agent, probe):
    # the snmprec's controller answers systemPatternControl = 3 with wrongValue
    backend = make_backend(agent, FakeClock(), NtcipSettings(patterns=(15, 3), retry=FAST))
    try:
        backend.apply(four_phase_plan())
        assert control_bits(probe)["pattern"] == 15
        with pytest.raises(ControllerError, match=r"plan not applied: J1: .*wrongValue"):
            backend.apply(four_phase_plan(offset_s=30.0))
        assert control_bits(probe)["pattern"] == 15
        backend.command([])
        assert control_bits(probe)["pattern"] == 15  # the watchdog keeps the running pattern, not 3
    finally:
        backend.close()


def test_a_pattern_accepted_but_not_run_is_refused_and_the_selection_restored(agent, probe):
    # A controller that takes the SET but checks the pattern afterwards runs free and says why
    # (snmpsim cannot check: the test sets what such a controller reports).
    backend = make_backend(agent, FakeClock())
    try:
        backend.command([])  # under central control, free (254)
        probe.set({oids.LOCAL_FREE_STATUS.instance(): oids.LocalFreeStatus.BAD_CYCLE_TIME,
                   oids.COORD_PATTERN_STATUS.instance(): oids.PATTERN_FREE})
        with pytest.raises(ControllerError, match="will not run pattern 15 .*bad_cycle_time"):
            backend.apply(four_phase_plan())
        assert control_bits(probe)["pattern"] == oids.PATTERN_FREE
    finally:
        backend.close()


def test_agent_down_gives_mode_unknown_a_warning_and_no_retry_storm(unused_udp_port, caplog):
    clock = FakeClock()
    settings = NtcipSettings(retry=FAST, reconnect_s=5.0)
    backend = NtcipBackend({TLS: AgentAddress("127.0.0.1", unused_udp_port)}, {TLS: DualRingMap()},
                           V2cCredentials(community=SecretStr("ntcip")), settings, clock)
    try:
        with caplog.at_level(logging.WARNING, logger="controllers.ntcip.backend"):
            started = time.monotonic()
            assert backend.status()[TLS].mode == "unknown"
            first_s = time.monotonic() - started
            backend.command([PhaseCommand(TLS, "hold", 0)])  # no exception: the controller runs alone
            again = time.monotonic()
            assert backend.status()[TLS].mode == "unknown"
            assert time.monotonic() - again < 0.25  # within the reconnect pause: not contacted
        assert 0.3 <= first_s < 5.0  # 2 timeouts of 0.15 s + 0.05 s backoff (+ a loaded machine)
        assert "keeps its own schedule" in caplog.text
        assert sum("unreachable" in r.message for r in caplog.records) == 1
        clock.now_s = 6.0  # the pause is over: tried again (and still down)
        assert backend.status()[TLS].mode == "unknown"
    finally:
        backend.close()



def test_a_plan_sent_while_the_controller_is_down_is_refused_and_not_applied_later(snmpsim_agent, unused_udp_port):
    # all or none: a plan one controller cannot get is no controller's plan, now or later
    clock = FakeClock()
    backend = NtcipBackend({TLS: AgentAddress("127.0.0.1", unused_udp_port)}, {TLS: DualRingMap()},
                           V2cCredentials(community=SecretStr("ntcip")), NtcipSettings(retry=FAST), clock)
    try:
        with pytest.raises(ControllerError, match=r"plan not applied, every controller keeps its running pattern: J1: unreachable"):
            backend.apply(four_phase_plan())
        agent = snmpsim_agent(port=unused_udp_port)  # the controller comes back
        clock.now_s = 6.0  # after the reconnect pause
        assert backend.status()[TLS].mode == "local"
        backend.command([])
        probe = SnmpClient(agent.host, agent.port, agent.v2c, FAST)
        assert control_bits(probe)["pattern"] != 15  # phase control only: the refused plan never runs
        backend.apply(four_phase_plan())  # sent again, now it runs
        assert control_bits(probe)["pattern"] == 15
        assert probe.get([oids.PATTERN_CYCLE_TIME.instance(15)])[oids.PATTERN_CYCLE_TIME.instance(15)] == 94
        probe.close()
    finally:
        backend.close()

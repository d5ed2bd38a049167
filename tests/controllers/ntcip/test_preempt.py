"""Preempt inputs over NTCIP: the emulated cabinet's preempt objects, read by ``read_preempts``
through the real agent on loopback, and every answer that is not a preempt state refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controllers.ntcip import oids
from controllers.ntcip.agent import NtcipAgent
from controllers.ntcip.cabinet import PREEMPTS, Cabinet
from controllers.ntcip.client import RequestRefused, RetryPolicy, SnmpClient
from controllers.ntcip.credentials import V2cCredentials
from controllers.ntcip.oids import PreemptState
from controllers.ntcip.preempt import calling, read_preempts
from optimizer.intersection import IntersectionModel


@pytest.fixture
def served(two_phase: IntersectionModel) -> Iterator[tuple[SnmpClient, Cabinet, NtcipAgent]]:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    with NtcipAgent({"two": cabinet}, port=0) as agent:
        client = SnmpClient("127.0.0.1", agent.ports["two"], V2cCredentials(community="public"),  # type: ignore[arg-type]
                            RetryPolicy(timeout_s=1.0, attempts=3))
        try:
            yield client, cabinet, agent
        finally:
            client.close()


def test_inputs_and_central_control_show_in_preempt_state(served: tuple[SnmpClient, Cabinet, NtcipAgent]) -> None:
    client, cabinet, agent = served
    assert client.get([oids.MAX_PREEMPTS.instance()])[oids.MAX_PREEMPTS.instance()] == PREEMPTS
    assert read_preempts(client, [1, 2]) == {1: PreemptState.NOT_ACTIVE, 2: PreemptState.NOT_ACTIVE}
    with agent.lock:
        cabinet.set_preempt_input(2, True)
    client.set({oids.PREEMPT_CONTROL_STATE.instance(1): 1})  # a central activation, as the input
    states = read_preempts(client, [1, 2, 3])
    assert states == {1: PreemptState.NOT_ACTIVE_WITH_CALL, 2: PreemptState.NOT_ACTIVE_WITH_CALL,
                      3: PreemptState.NOT_ACTIVE}
    assert [calling(s) for s in states.values()] == [True, True, False]
    client.set({oids.PREEMPT_CONTROL_STATE.instance(1): 0})
    with agent.lock:
        cabinet.set_preempt_input(2, False)
    assert read_preempts(client, [1, 2]) == {1: PreemptState.NOT_ACTIVE, 2: PreemptState.NOT_ACTIVE}


def test_what_is_not_a_preempt_state_is_refused(served: tuple[SnmpClient, Cabinet, NtcipAgent]) -> None:
    client, _, _ = served
    with pytest.raises(RequestRefused, match="NoSuchInstance"):  # answered noError, carrying noSuchInstance
        read_preempts(client, [1, PREEMPTS + 1])
    with pytest.raises(RequestRefused, match="notWritable"):
        client.set({oids.PREEMPT_STATE.instance(1): 3})
    with pytest.raises(RequestRefused, match="wrongValue"):
        client.set({oids.PREEMPT_CONTROL_STATE.instance(1): 2})

    class Answers:  # a controller answering values outside the MIB's enumeration
        address = "fake:161"

        def __init__(self, value: object) -> None:
            self.value = value

        def get(self, instances: list) -> dict:
            return {oid: self.value for oid in instances}

    for value in (0, 10, "dwell"):
        with pytest.raises(RequestRefused, match="preemptState.1"):
            read_preempts(Answers(value), [1])  # type: ignore[arg-type]
    assert not calling(PreemptState.MAX_PRESENCE) and not calling(PreemptState.EXIT_STARTED)
    assert calling(PreemptState.DWELL) and calling(PreemptState.TRACK_SERVICE)

"""The NTCIP agent over real UDP on loopback, queried with a pysnmp manager (v2c and v3)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysnmp.hlapi.v3arch import asyncio as hl

from controllers.ntcip import oids
from controllers.ntcip.agent import NtcipAgent, SnmpUser, load_users
from controllers.ntcip.cabinet import Cabinet
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError

USER = SnmpUser(name="central", auth_key="auth-secret-1", priv_key="priv-secret-1")
READER = SnmpUser(name="viewer", auth_key="auth-secret-2", priv_key="priv-secret-2", access="read-only")


@pytest.fixture
def served(two_phase: IntersectionModel) -> Iterator[tuple[NtcipAgent, Cabinet]]:
    cabinet = Cabinet.from_model(two_phase, backup_time_s=0)
    with NtcipAgent({"two": cabinet}, port=0, users=[USER, READER]) as agent:
        with agent.lock:
            for _ in range(3):
                cabinet.tick(1.0)
        yield agent, cabinet


def auth_for(user: SnmpUser | None) -> Any:
    if user is None:
        return hl.CommunityData("public", mpModel=1)
    return hl.UsmUserData(user.name, user.auth_key, user.priv_key,
                          authProtocol=hl.USM_AUTH_HMAC96_SHA, privProtocol=hl.USM_PRIV_CFB128_AES)


def request(kind: str, port: int, varbinds: list[Any], user: SnmpUser | None = None) -> tuple[Any, str, list[Any]]:
    async def go() -> tuple[Any, str, list[Any]]:
        engine = hl.SnmpEngine()
        target = await hl.UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=0)
        fun = {"get": hl.get_cmd, "set": hl.set_cmd, "next": hl.next_cmd}[kind]
        err_ind, err_status, _, vbs = await fun(engine, auth_for(user), target, hl.ContextData(), *varbinds)
        engine.close_dispatcher()
        return err_ind, err_status.prettyPrint() if err_status else "", list(vbs)

    return asyncio.run(go())


def get(port: int, obj: oids.MibObject, *index: int, user: SnmpUser | None = None) -> Any:
    err_ind, status, vbs = request("get", port, [hl.ObjectType(hl.ObjectIdentity(obj.instance(*index)))], user)
    assert err_ind is None and status == "", (err_ind, status)
    return vbs[0][1]


def set_(port: int, values: list[tuple[oids.MibObject, tuple[int, ...], int]], user: SnmpUser | None = None) -> str:
    vbs = [hl.ObjectType(hl.ObjectIdentity(o.instance(*i)), hl.Integer32(v)) for o, i, v in values]
    err_ind, status, _ = request("set", port, vbs, user)
    assert err_ind is None, err_ind
    return status


def test_get_status_v2c(served: tuple[NtcipAgent, Cabinet]) -> None:
    agent, cabinet = served
    port = agent.ports["two"]
    assert int(get(port, oids.GREENS, 1)) == 0b01
    assert int(get(port, oids.REDS, 1)) == 0b10
    assert int(get(port, oids.UNIT_CONTROL_STATUS)) == oids.UnitControlStatus.TIMEBASE
    assert int(get(port, oids.PHASE_MINIMUM_GREEN, 2)) == 5
    assert int(get(port, oids.PATTERN_CYCLE_TIME, 1)) == 48


def test_set_v2c_takes_effect_and_bad_values_are_refused(served: tuple[NtcipAgent, Cabinet]) -> None:
    agent, cabinet = served
    port = agent.ports["two"]
    assert set_(port, [(oids.SYSTEM_PATTERN_CONTROL, (), 254), (oids.HOLD, (1,), 0b01)]) == ""
    assert cabinet.central and cabinet.control["phaseControlGroupHold"] == {1}
    assert set_(port, [(oids.SYSTEM_PATTERN_CONTROL, (), 300)]) == "wrongValue"
    # atomic: one bad varbind and nothing of the SET is applied
    assert set_(port, [(oids.HOLD, (1,), 0), (oids.FORCE_OFF, (1,), 0b1000)]) == "wrongValue"
    assert cabinet.control["phaseControlGroupHold"] == {1}
    assert set_(port, [(oids.GREENS, (1,), 1)]) == "notWritable"
    assert set_(port, [(oids.PHASE_MINIMUM_GREEN, (9,), 5)]) in ("noCreation", "notWritable", "noSuchName")


def test_getnext_walks_the_table(served: tuple[NtcipAgent, Cabinet]) -> None:
    agent, _ = served
    err_ind, status, vbs = request("next", agent.ports["two"], [hl.ObjectType(hl.ObjectIdentity(oids.PHASE_MINIMUM_GREEN.oid))])
    assert err_ind is None and status == ""
    assert tuple(vbs[0][0]) == oids.PHASE_MINIMUM_GREEN.instance(1) and int(vbs[0][1]) == 5


def test_v3_auth_priv_users(served: tuple[NtcipAgent, Cabinet]) -> None:
    agent, cabinet = served
    port = agent.ports["two"]
    assert int(get(port, oids.GREENS, 1, user=USER)) == 0b01
    assert set_(port, [(oids.SYSTEM_PATTERN_CONTROL, (), 255)], user=USER) == ""
    assert cabinet.system_pattern_control == 255
    assert int(get(port, oids.COORD_PATTERN_STATUS, user=READER)) == 255
    assert set_(port, [(oids.SYSTEM_PATTERN_CONTROL, (), 254)], user=READER) in ("noAccess", "authorizationError", "notWritable")
    assert cabinet.system_pattern_control == 255
    wrong = SnmpUser(name="central", auth_key="not-the-key", priv_key="priv-secret-1")
    err_ind, _, _ = request("get", port, [hl.ObjectType(hl.ObjectIdentity(oids.GREENS.instance(1)))], wrong)
    assert err_ind is not None


def test_users_file_errors_name_the_field(tmp_path: Path) -> None:
    f = tmp_path / "users.yaml"
    f.write_text("users:\n  - {name: a, auth_key: short, priv_key: longenough}\n")
    with pytest.raises(ConfigError, match=r"users.yaml: users.0.auth_key"):
        load_users(f)
    f.write_text("users:\n  - {name: a, auth_key: longenough, priv_key: longenough, access: read-only}\n")
    assert load_users(f)[0].access == "read-only"


def test_pedestrian_call_walk_and_clearance_over_snmp(two_phase: IntersectionModel) -> None:
    """A central pedestrian call (``phaseControlGroupPedCall``) SET over SNMP gets its phase's
    walk (7 s) and flashing don't-walk (crossing length / 1.07 m/s), read back over SNMP as
    ``phaseStatusGroupWalks``/``PedClears``/``DontWalks``; no walk without the call."""
    from dataclasses import replace

    from controllers.ntcip.nema import phase_map
    from optimizer.intersection import Crossing

    phases = tuple(replace(p, state=p.state + c) for p, c in zip(two_phase.phases, ("Gr", "rG")))
    model = replace(two_phase, tls_id="ped", phases=phases,
                    crossings=(Crossing(4, ":ped_c0", 9.6), Crossing(5, ":ped_c1", 6.4)))
    mapping = phase_map(model)
    second = mapping.nema_phases(1)[0]  # the NEMA phase of model phase 1 (crossing 5: 7 + 6 s)
    cabinet = Cabinet.from_model(model, mapping, backup_time_s=0, ped_recall=())
    assert cabinet.db.phases[second].walk_s == 7 and cabinet.db.phases[second].ped_clear_s == 6
    pedestrian_status = (oids.WALKS, oids.PED_CLEARS, oids.DONT_WALKS, oids.PHASE_STATUS_GROUP_PED_CALLS)

    def status_bits(port: int) -> tuple[int, ...]:
        err_ind, status, vbs = request("get", port, [hl.ObjectType(hl.ObjectIdentity(o.instance(1)))
                                                    for o in pedestrian_status])
        assert err_ind is None and status == ""
        return tuple(int(v[1]) & bit for v in vbs)

    with NtcipAgent({"ped": cabinet}, port=0) as agent:
        port = agent.ports["ped"]
        bit = 1 << (second - 1)
        assert set_(port, [(oids.SYSTEM_PATTERN_CONTROL, (), 254), (oids.PED_CALL, (1,), bit)]) == ""
        for _ in range(60):
            with agent.lock:
                cabinet.tick(1.0)
                if cabinet.stage == 1 and cabinet.interval == "green":
                    break
        seen = []
        for second_of_green in range(16):
            with agent.lock:
                walks, clears, dont = (cabinet.read(o.name, (1,)) for o in pedestrian_status[:3])
                seen.append("walk" if walks & bit else "clear" if clears & bit else "dont" if dont & bit else "none")
                assert cabinet.link_state()[5] == ("G" if seen[-1] == "walk" else "r")
            if second_of_green in (0, 7, 13):  # the same, over SNMP
                assert status_bits(port) == {0: (bit, 0, 0, bit), 7: (0, bit, 0, bit), 13: (0, 0, bit, bit)}[second_of_green]
            with agent.lock:
                assert cabinet.stage == 1 or second_of_green >= 13  # held through walk and clearance
                cabinet.tick(1.0)
        assert seen == ["walk"] * 7 + ["clear"] * 6 + ["dont"] * 3
        assert set_(port, [(oids.PED_CALL, (1,), 0), (oids.SYSTEM_PATTERN_CONTROL, (), 254)]) == ""
        for _ in range(120):  # no call: the next greens of phase 1 show no walk
            with agent.lock:
                cabinet.tick(1.0)
        assert cabinet.walks == 1

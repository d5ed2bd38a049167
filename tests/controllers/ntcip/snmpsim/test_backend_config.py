"""NtcipConfig: a site YAML to a working backend (snmpsim), and the load errors it names."""

from __future__ import annotations

import pytest

from controllers.backend import PhaseCommand
from controllers.ntcip import oids
from controllers.ntcip.client import SnmpClient
from controllers.ntcip.config import load_ntcip_config
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink
from phasewise_errors import ConfigError


def four_phase_model(tls_id: str) -> IntersectionModel:
    states = ["GrrrGrrr", "rGrrrGrr", "rrGrrrGr", "rrrGrrrG"]
    links = tuple(SignalLink(i, f"a{i}_0", f"o{i}_0", f"a{i}", "through") for i in range(8))
    movements = tuple(Movement(f"a{i}:through", f"a{i}", "through", (i,), (f"a{i}_0",), (f"o{i}",)) for i in range(8))
    phases = tuple(Phase(k, s, 20.0, 5.0, 40.0) for k, s in enumerate(states))
    return IntersectionModel(tls_id, links, movements, phases, 3.0, 1.0, 96.0)


def write_site(tmp_path, text: str):
    path = tmp_path / "ntcip.yaml"
    path.write_text(text)
    return path


def test_site_yaml_to_backend_with_v3_keys_from_the_environment(snmpsim_agent, tmp_path, monkeypatch):
    agent = snmpsim_agent()
    monkeypatch.setenv("PW_AUTH", "test-auth-key-1")
    monkeypatch.setenv("PW_PRIV", "test-priv-key-1")
    site = write_site(tmp_path, f"""
controllers:
  J1: {{host: {agent.host}, port: {agent.port}}}
snmp: {{user: phasewise, auth_key_env: PW_AUTH, priv_key_env: PW_PRIV, context_name: {agent.community}}}
timeout_s: 0.2
""")
    config = load_ntcip_config(site)
    assert "test-auth-key-1" not in repr(config)
    backend = config.backend({"J1": four_phase_model("J1")})
    probe = SnmpClient(agent.host, agent.port, agent.v2c)
    try:
        # default mapping: one ring, model phase k = NEMA phase k + 1
        probe.set({oids.GREENS.instance(1): 0b00000100})
        assert backend.status()["J1"].phase == 2
        backend.command([PhaseCommand("J1", "hold", 2)])
        assert probe.get([oids.HOLD.instance(1)]) == {oids.HOLD.instance(1): 0b00000100}
    finally:
        backend.close()
        probe.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("controllers: {}\nsnmp: {user: u, auth_key_env: A, priv_key_env: P}\n", "controllers: "),
        ("controllers: {J1: {host: h, port: 0}}\nsnmp: {user: u, auth_key_env: A, priv_key_env: P}\n",
         "controllers.J1.port"),
        ("controllers: {J1: {host: h}}\nsnmp: {user: u, auth_key_env: A, priv_key_env: P}\npatterns: [1, 254]\n",
         "patterns: .*two different pattern numbers"),
        ("controllers: {J1: {host: h}}\nsnmp: {auth_key_env: A}\n", "snmp: .*give a v3 'user'"),
        ("controllers: {J1: {host: h}\n", "not valid YAML"),
    ],
)
def test_load_errors_name_the_file_and_the_field(tmp_path, text, message):
    site = write_site(tmp_path, text)
    with pytest.raises(ConfigError, match=f"{site.name}: {message}" if "YAML" not in message else message):
        load_ntcip_config(site)


def test_controllers_must_exist_in_the_network(tmp_path):
    config = load_ntcip_config(write_site(tmp_path, "controllers: {J9: {host: h}}\nsnmp: {community_env: C}\n"))
    with pytest.raises(ConfigError, match="no traffic light J9"):
        config.backend({"J1": four_phase_model("J1")})

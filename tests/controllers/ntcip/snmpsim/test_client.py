"""SnmpClient against a real agent (snmpsim): GET/SET, varbind checks, failures, credentials."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from controllers.ntcip import oids
from controllers.ntcip.client import AgentUnreachable, AuthenticationFailed, RequestRefused, RetryPolicy, SnmpClient
from controllers.ntcip.credentials import CredentialsConfig, V2cCredentials, V3Credentials
from phasewise_errors import ConfigError, ControllerError

GREENS_1 = oids.GREENS.instance(1)
HOLD_1 = oids.HOLD.instance(1)
FORCE_OFF_1 = oids.FORCE_OFF.instance(1)
HOLD_2 = oids.HOLD.instance(2)  # not in the snmprec: the agent has one phase group
PATTERN = oids.SYSTEM_PATTERN_CONTROL.instance()
FAST = RetryPolicy(timeout_s=0.15, attempts=3, backoff_s=0.05)


@pytest.fixture
def agent(shared_snmpsim_agent):
    return shared_snmpsim_agent


@pytest.fixture(params=["v2c", "v3"])
def client(request, agent):
    credentials = agent.v2c if request.param == "v2c" else agent.v3()
    c = SnmpClient(agent.host, agent.port, credentials, FAST)
    yield c
    c.close()


def test_get_and_multi_varbind_set_round_trip(client):
    assert client.get([GREENS_1]) == {GREENS_1: 0b00100010}
    client.set({HOLD_1: 0b00000010, FORCE_OFF_1: 0b00100000})
    assert client.get([HOLD_1, FORCE_OFF_1]) == {HOLD_1: 0b00000010, FORCE_OFF_1: 0b00100000}


def test_get_of_a_missing_instance_is_refused(client):
    with pytest.raises(RequestRefused, match="NoSuchInstance"):
        client.get([GREENS_1, oids.GREENS.instance(2)])


def test_set_answered_no_error_with_no_such_instance_is_a_failure(client):
    # snmpsim answers this SET with error-status noError and a noSuchInstance varbind for
    # the second object, after writing the first: the client must not call that success.
    with pytest.raises(RequestRefused, match=r"SET .*1\.5\.1\.4\.2: NoSuchInstance"):
        client.set({HOLD_1: 0b1, HOLD_2: 0b1})


def test_set_refused_by_the_agent_names_the_object(client):
    with pytest.raises(RequestRefused, match=r"wrongValue at 1\.3\.6\.1\.4\.1\.1206\.4\.2\.1\.4\.14\.0"):
        client.set({PATTERN: 3})
    assert client.get([PATTERN]) == {PATTERN: 0}


def test_agent_down_retries_then_controller_error_in_bounded_time(unused_udp_port):
    port = unused_udp_port  # nothing listens here
    client = SnmpClient("127.0.0.1", port, V2cCredentials(community=SecretStr("ntcip")), FAST)
    started = time.monotonic()
    with pytest.raises(AgentUnreachable, match="after 3 attempts") as caught:
        client.get([GREENS_1])
    elapsed = time.monotonic() - started
    client.close()
    assert isinstance(caught.value, ControllerError)
    # 3 timeouts of 0.15 s and back-offs of 0.05 + 0.1 s; the upper bound leaves room for a
    # loaded machine (engine start included) while still catching a retry storm
    assert 0.6 <= elapsed < 5.0


@pytest.mark.parametrize(
    ("auth_key", "priv_key", "user", "reason"),
    [
        ("wrong-auth-key", "test-priv-key-1", "phasewise", "digest"),
        ("test-auth-key-1", "wrong-priv-key", "phasewise", "cipher"),
        ("test-auth-key-1", "test-priv-key-1", "intruder", "Unknown USM user"),
    ],
)
def test_wrong_v3_credentials_are_a_clear_error_without_retries(agent, auth_key, priv_key, user, reason):
    # a retry would first wait 10 s (backoff): failing faster proves there was none
    no_retry = RetryPolicy(timeout_s=0.5, attempts=3, backoff_s=10.0)
    client = SnmpClient(agent.host, agent.port, agent.v3(auth_key, priv_key, user), no_retry)
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed, match="rejected our credentials") as caught:
        client.get([GREENS_1])
    client.close()
    assert reason.lower() in str(caught.value).lower()
    assert auth_key not in str(caught.value) and priv_key not in str(caught.value)
    assert time.monotonic() - started < 8.0


def test_secrets_never_show_in_repr_or_str():
    creds = V3Credentials(user="u", auth_key=SecretStr("s3cret-auth"), priv_key=SecretStr("s3cret-priv"))
    client = SnmpClient("127.0.0.1", 161, creds)
    shown = " ".join([repr(creds), str(creds), repr(client), str(client)])
    client.close()
    assert "s3cret" not in shown
    assert "pub1ic" not in repr(V2cCredentials(community=SecretStr("pub1ic")))


def test_credentials_config_reads_env_and_file(tmp_path):
    key_file = tmp_path / "priv.key"
    key_file.write_text("file-priv-key\n")
    config = CredentialsConfig(user="phasewise", auth_key_env="PW_AUTH", priv_key_file=key_file)
    creds = config.resolve({"PW_AUTH": "env-auth-key"})
    assert isinstance(creds, V3Credentials)
    assert creds.auth_key.get_secret_value() == "env-auth-key"
    assert creds.priv_key.get_secret_value() == "file-priv-key"
    with pytest.raises(ConfigError, match="PW_AUTH is not set"):
        config.resolve({})
    with pytest.raises(ConfigError, match="at least 8 characters"):
        CredentialsConfig(user="u", auth_key_env="A", priv_key_env="P").resolve({"A": "short", "P": "long-enough"})


def test_mib_ranges_and_bit_masks():
    assert oids.SYSTEM_PATTERN_CONTROL.dotted == "1.3.6.1.4.1.1206.4.2.1.4.14"
    assert oids.UNIT_BACKUP_TIME.instance() == oids.ASC + (3, 3, 0)
    assert oids.DB_CREATE_TRANSACTION.instance() == (1, 3, 6, 1, 4, 1, 1206, 4, 2, 6, 2, 1, 0)
    with pytest.raises(ValueError):
        oids.SPLIT_TIME.check(256)
    with pytest.raises(ValueError):
        oids.SPLIT_MODE.check(8)
    assert oids.phase_masks([2, 6, 9]) == {1: 0b00100010, 2: 0b00000001}
    assert oids.phases_in_mask(1, 0b00100010) == [2, 6]
    assert oids.lookup(oids.SPLIT_TIME.instance(2, 4)) == (oids.SPLIT_TIME, (2, 4))

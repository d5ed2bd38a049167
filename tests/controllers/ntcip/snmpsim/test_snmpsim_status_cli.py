"""``phasewise controller status`` against snmpsim: table, JSON, unreachable, wrong key."""

from __future__ import annotations

import json
import sys

import pytest

from phasewise.cli import main


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["phasewise", "controller", "status", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def agent(shared_snmpsim_agent):
    return shared_snmpsim_agent


def test_json_over_snmpv3(agent, monkeypatch, capsys):
    monkeypatch.setenv("PW_AUTH", "test-auth-key-1")
    monkeypatch.setenv("PW_PRIV", "test-priv-key-1")
    code, out, err = run(monkeypatch, capsys, "--host", agent.host, "--port", str(agent.port), "--user", "phasewise",
                         "--auth-key-env", "PW_AUTH", "--priv-key-env", "PW_PRIV", "--context", agent.community, "--json")
    assert code == 0, err
    snapshot = json.loads(out)
    assert snapshot["greens"] == [2, 6] and snapshot["reds"] == [1, 3, 4, 5, 7, 8]
    assert snapshot["mode"] == "local" and snapshot["unit_control_status"] == "timebase"
    assert snapshot["system_pattern_control"] == 0 and snapshot["unit_backup_time_s"] == 60
    assert "test-auth-key-1" not in out + err


def test_table_over_v2c(agent, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "--host", agent.host, "--port", str(agent.port), "--community", "ntcip")
    assert code == 0
    assert "timebase" in out and "2 6" in out and "60 s" in out


def test_unreachable_is_one_error_line_and_exit_2(unused_udp_port, monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, "--host", "127.0.0.1", "--port", str(unused_udp_port),
                         "--community", "ntcip", "--timeout", "0.1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("phasewise: error: 127.0.0.1:") and "no SNMP answer" in err


def test_wrong_key_is_one_error_line_naming_credentials(agent, monkeypatch, capsys):
    monkeypatch.setenv("PW_AUTH", "not-the-auth-key")
    monkeypatch.setenv("PW_PRIV", "test-priv-key-1")
    code, _, err = run(monkeypatch, capsys, "--host", agent.host, "--port", str(agent.port), "--user", "phasewise",
                       "--auth-key-env", "PW_AUTH", "--priv-key-env", "PW_PRIV", "--context", agent.community)
    assert code == 2 and err.count("\n") == 1 and "rejected our credentials" in err
    assert "not-the-auth-key" not in err

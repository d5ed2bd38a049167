"""A real SNMP agent for the NTCIP manager tests: snmpsim serving ``data/ntcip.snmprec``.

``snmpsim_agent()`` starts ``snmpsim-command-responder`` as a subprocess on a free local UDP
port, with SNMPv2c (community ``ntcip``, the data file's name) and one SNMPv3 user (SHA/AES;
the v3 context name selects the same data file), waits until it answers and stops it at
the end of the test. Writable objects use snmpsim's ``writecache`` variation, so each agent
process starts from the file's values.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from controllers.ntcip.credentials import V2cCredentials, V3Credentials

DATA = Path(__file__).parent.parent / "data"
V3_USER = "phasewise"
V3_AUTH_KEY = "test-auth-key-1"
V3_PRIV_KEY = "test-priv-key-1"
STARTUP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SimAgent:
    host: str
    port: int
    community: str

    @property
    def v2c(self) -> V2cCredentials:
        return V2cCredentials(community=SecretStr(self.community))

    def v3(self, auth_key: str = V3_AUTH_KEY, priv_key: str = V3_PRIV_KEY, user: str = V3_USER) -> V3Credentials:
        return V3Credentials(
            user=user, auth_key=SecretStr(auth_key), priv_key=SecretStr(priv_key), context_name=self.community
        )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _responder() -> str:
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    if exe.exists():
        return str(exe)
    found = shutil.which("snmpsim-command-responder")
    if found is None:
        # a conformance test against an agent we did not write must not vanish silently
        pytest.fail("snmpsim is not installed: run 'make test' (it installs the dev extra) or pip install -e '.[dev]'")
    return found


def _answers(host: str, port: int, community: str) -> bool:
    """One raw SNMPv2c GET of sysDescr.0, without our client (so a client bug cannot hide here)."""
    from pysnmp.proto import api

    pmod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = pmod.GetRequestPDU()
    pmod.apiPDU.set_defaults(pdu)
    pmod.apiPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 1, 1, 0), pmod.Null(""))])
    msg = pmod.Message()
    pmod.apiMessage.set_defaults(msg)
    pmod.apiMessage.set_community(msg, community)
    pmod.apiMessage.set_pdu(msg, pdu)
    from pyasn1.codec.ber import encoder

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(encoder.encode(msg), (host, port))
        try:
            sock.recvfrom(65535)
            return True
        except OSError:
            return False


@pytest.fixture
def unused_udp_port() -> int:
    """A local UDP port nothing listens on (an agent that is down)."""
    return free_udp_port()


class _Launcher:
    """Starts snmpsim processes under one directory and stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, snmprec: Path = DATA / "ntcip.snmprec", port: int | None = None) -> SimAgent:
        data_dir = self.workdir / f"data{len(self.processes)}"
        data_dir.mkdir()
        shutil.copy(snmprec, data_dir / snmprec.name)
        port = port or free_udp_port()
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        proc = subprocess.Popen(
            [
                _responder(),
                f"--data-dir={data_dir}",
                f"--cache-dir={self.workdir / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                f"--v3-user={V3_USER}",
                f"--v3-auth-key={V3_AUTH_KEY}",
                "--v3-auth-proto=SHA",
                f"--v3-priv-key={V3_PRIV_KEY}",
                "--v3-priv-proto=AES",
                "--logging-method=null",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(proc)
        agent = SimAgent("127.0.0.1", port, snmprec.stem)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(agent.host, port, agent.community):
            if proc.poll() is not None:
                raise RuntimeError(f"snmpsim exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("snmpsim did not answer within the startup timeout")
        return agent

    def stop_all(self) -> None:
        for proc in self.processes:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def snmpsim_agent(tmp_path: Path) -> Iterator[Callable[..., SimAgent]]:
    """Factory: ``snmpsim_agent()`` starts a fresh agent for this test and returns its address."""
    launcher = _Launcher(tmp_path)
    yield launcher.start
    launcher.stop_all()


@pytest.fixture(scope="module")
def shared_snmpsim_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimAgent]:
    """One agent for a whole test module: for tests that only read, or write what they check."""
    launcher = _Launcher(tmp_path_factory.mktemp("snmpsim"))
    yield launcher.start()
    launcher.stop_all()

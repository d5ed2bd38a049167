"""SNMP cost of one NtcipBackend step (status + command) per intersection, against snmpsim.

    .venv/bin/python benchmarks/ntcip_round_trip.py [--steps 200] [--intersections 1,4,8] [--agents 2]

Starts ``--agents`` snmpsim processes on localhost serving the test controller
(``tests/controllers/ntcip/data/ntcip.snmprec``), spreads the intersections over them, and
times ``backend.status()`` followed by ``backend.command([hold])`` — one GET and one SET per
intersection, run concurrently across intersections — for SNMPv3 authPriv (SHA/AES) and
v2c. Prints median and 95th percentile per step, and per intersection (step / count). The
first step (engine start, SNMPv3 discovery, optional-object probes) is reported apart.
Localhost round trips measure our client and pysnmp, not a cabinet network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr  # noqa: E402

from controllers.backend import PhaseCommand  # noqa: E402
from controllers.ntcip.backend import AgentAddress, NtcipBackend  # noqa: E402
from controllers.ntcip.client import RetryPolicy, SnmpClient  # noqa: E402
from controllers.ntcip.credentials import V2cCredentials, V3Credentials  # noqa: E402
from phasewise_errors import ControllerError  # noqa: E402

SNMPREC = Path(__file__).resolve().parent.parent / "tests" / "controllers" / "ntcip" / "data" / "ntcip.snmprec"
AUTH_KEY, PRIV_KEY = "bench-auth-key", "bench-priv-key"


class DualRing:
    nema_phases_used = (1, 2, 3, 4, 5, 6, 7, 8)
    stages = {0: (2, 6), 1: (4, 8), 2: (1, 5), 3: (3, 7)}

    def nema_phases(self, model_phase: int) -> tuple[int, ...]:
        return self.stages[model_phase]

    def model_phase(self, greens: frozenset[int]) -> int | None:
        return next((k for k, v in self.stages.items() if frozenset(v) == greens), None)


def start_agent(workdir: Path, index: int) -> tuple[subprocess.Popen[bytes], int]:
    data = workdir / f"data{index}"
    data.mkdir()
    shutil.copy(SNMPREC, data / SNMPREC.name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "snmpsim-command-responder"), f"--data-dir={data}",
         f"--cache-dir={workdir / 'cache'}", f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--v3-user=bench",
         f"--v3-auth-key={AUTH_KEY}", "--v3-auth-proto=SHA", f"--v3-priv-key={PRIV_KEY}", "--v3-priv-proto=AES",
         "--logging-method=null"],
        env=dict(os.environ, SNMPSIM_ALLOW_ROOT="true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return proc, port


def wait_until_answering(port: int, timeout_s: float = 30.0) -> None:
    """snmpsim indexes its data file before it listens: poll sysDescr until it answers."""
    client = SnmpClient("127.0.0.1", port, V2cCredentials(community=SecretStr(SNMPREC.stem)),
                        RetryPolicy(timeout_s=0.2, attempts=1))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                client.get([(1, 3, 6, 1, 2, 1, 1, 1, 0)])
                return
            except ControllerError:
                if time.monotonic() > deadline:
                    raise
    finally:
        client.close()


def measure(ports: list[int], count: int, credentials: object, steps: int) -> tuple[float, list[float]]:
    agents = {f"J{k}": AgentAddress("127.0.0.1", ports[k % len(ports)]) for k in range(count)}
    backend = NtcipBackend(agents, {tls: DualRing() for tls in agents}, credentials)  # type: ignore[arg-type]
    commands = [PhaseCommand(tls, "hold", 0) for tls in agents]
    try:
        started = time.perf_counter()
        backend.status()
        backend.command(commands)
        first_s = time.perf_counter() - started
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            statuses = backend.status()
            backend.command(commands)
            times.append(time.perf_counter() - started)
            assert all(s.mode != "unknown" for s in statuses.values())
    finally:
        backend.close()
    return first_s, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--intersections", default="1,4,8")
    parser.add_argument("--agents", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [start_agent(Path(tmp), k) for k in range(args.agents)]
        try:
            ports = [port for _, port in procs]
            for port in ports:
                wait_until_answering(port)
            print(f"{'security':<14}{'n':>4}{'first step ms':>15}{'median ms':>11}{'p95 ms':>9}{'median ms/int':>15}")
            for name in ("v3 authPriv", "v2c"):
                for count in (int(n) for n in args.intersections.split(",")):
                    creds = (V3Credentials(user="bench", auth_key=SecretStr(AUTH_KEY), priv_key=SecretStr(PRIV_KEY),
                                           context_name=SNMPREC.stem) if name.startswith("v3")
                             else V2cCredentials(community=SecretStr(SNMPREC.stem)))
                    first_s, times = measure(ports, count, creds, args.steps)
                    median = statistics.median(times) * 1000
                    p95 = sorted(times)[int(0.95 * len(times)) - 1] * 1000
                    print(f"{name:<14}{count:>4}{first_s * 1000:>15.0f}{median:>11.1f}{p95:>9.1f}{median / count:>15.1f}")
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()

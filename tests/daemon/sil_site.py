"""A software-in-the-loop site for the tests that search for failures (``test_api_fuzz.py``,
``test_daemon_stateful.py``): ``phasewise run`` on a 2-intersection corridor with a token of
every role, which can be killed (SIGKILL) or stopped (SIGTERM) and started again on the same
state dir, and what can be seen of it from outside: the API, the metrics and probes, the state
file, and what each emulated cabinet runs, read over SNMP.

Built on the dashboard tests' client and tokens (``tests/phasewise/web/conftest.py``) and the
daemon tests' count of committed crossings (``tests/phasewise/test_run_daemon.py``).

    site = SilSite(tmp_path)
    site.start()
    site.call("POST", "/api/plans/program/apply", "operator").status   # 200
    site.cabinets()["J0"]       # Cabinet(control=2, pattern=15, cycle_s=90.0)
    site.kill(); site.start()   # same state dir
    site.close()
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controllers.ntcip import oids
from controllers.ntcip.client import EventLoopThread, SnmpClient
from controllers.ntcip.credentials import V2cCredentials
from tests.phasewise.test_run_daemon import committed_counts
from tests.phasewise.web.conftest import PHASEWISE, REPO, TOKENS, Client, Reply, tokens_yaml

# NtcipSettings.patterns: the two pattern numbers phasewise's plans alternate between
PHASEWISE_PATTERNS = (15, 16)
START_TIMEOUT_S = 90.0  # a start on two busy cores: SUMO, the emulated cabinets, the HTTP server


@dataclass(frozen=True)
class Cabinet:
    """What an emulated cabinet runs, as a central system reads it over SNMP.

    ``control``: ``unitControlStatus`` (2 = systemControl: central commands are obeyed);
    ``pattern``: ``coordPatternStatus`` (15/16: a plan phasewise sent, 254: free, timed by
    phasewise's phase commands while under central control, 1: the unit's own program);
    ``cycle_s``: that pattern's ``patternCycleTime`` (None when free or flashing)."""

    control: int
    pattern: int
    cycle_s: float | None

    @property
    def central(self) -> bool:
        return self.control == oids.UnitControlStatus.SYSTEM_CONTROL

    @property
    def runs_phasewise_plan(self) -> bool:
        return self.central and self.pattern in PHASEWISE_PATTERNS


def read_cabinet(client: SnmpClient) -> Cabinet:
    """One emulated cabinet (as ``test_run_daemon.controller_pattern`` reads it, with the
    control status, and free or flash patterns that have no cycle)."""
    status, running = oids.UNIT_CONTROL_STATUS.instance(), oids.COORD_PATTERN_STATUS.instance()
    values = client.get([status, running])
    pattern = int(values[running])
    cycle_s = None
    if 1 <= pattern <= 253:
        cycle = oids.PATTERN_CYCLE_TIME.instance(pattern)
        cycle_s = float(client.get([cycle])[cycle])
    return Cabinet(int(values[status]), pattern, cycle_s)


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """A sample of Prometheus text; NaN when it is not exported (never equal to anything)."""
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in metrics_text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return math.nan


class SilSite:
    """``phasewise run`` (mode: sil) on a state dir of its own under ``tmp`` (module docstring).

    ``speed``: simulated seconds per wall second; ``replan_s``: the strategic layer's period
    (gate off: every re-optimized plan is applied, so a test that watches the plan in force
    sets it beyond its horizon)."""

    def __init__(self, tmp: Path, speed: float = 5, replan_s: float = 100000) -> None:
        self.tmp, self.state = tmp, tmp / "state"
        (tmp / "faults.json").write_text("{}")
        self.config = tmp / "site.yaml"
        self.config.write_text(
            f"site: fuzz\nmode: sil\nspeed: {speed}\nduration_s: 36000\n"
            'network: {scenario: "corridor:demand=high,intersections=2"}\n'
            f"gate: {{enabled: false}}\npolicy: {{replan_s: {replan_s}}}\n"
            f"controller: {{emulated: {{fault_file: {tmp / 'faults.json'}}}}}\n"
            f"http:\n  port: 0\n  login_failures_per_minute: 1000\n  tokens:\n{tokens_yaml('    ')}"
            f"state_dir: {self.state}\nlog: {{level: info, format: json}}\n")
        self.log_path = tmp / "daemon.log"
        self.proc: subprocess.Popen[str] | None = None
        self.client: Client | None = None
        self.starts = 0
        self._snmp = EventLoopThread()  # one SNMP engine for every read (an engine costs ~0.3 s)
        self._cabinet_clients: dict[int, SnmpClient] = {}

    # -- the process ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon and wait until it serves HTTP and has stepped (not until healthy
        or ready: what the probes say is for the tests to judge)."""
        (self.state / "http.port").unlink(missing_ok=True)
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"---- start {self.starts}\n")
        stderr = self.log_path.open("a")
        try:
            self.proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(self.config)], cwd=REPO,
                                         stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        finally:
            stderr.close()
        port_file = self.state / "http.port"
        self.wait(lambda: port_file.exists() and port_file.read_text().strip(), START_TIMEOUT_S, "the http port")
        self.client = Client(int(port_file.read_text()))
        self.wait(lambda: self.metric("phasewise_steps_total") >= 3, START_TIMEOUT_S, "three steps")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def terminate(self) -> None:
        """SIGTERM: controllers released, state flushed; waits for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)

    def close(self) -> None:
        self.kill()
        self._snmp.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait(self, condition: Callable[[], Any], timeout_s: float, what: str) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) waiting for {what}: {self.log()[-3000:]}")
            try:
                if condition():
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timeout ({timeout_s:g} s) waiting for {what}: {self.log()[-3000:]}")

    # -- what it says -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.client is not None
        return f"http://127.0.0.1:{self.client.port}"

    def call(self, method: str, path: str, role: str | None = None, body: object = None,
             timeout: float = 30.0) -> Reply:
        """An HTTP request with ``role``'s bearer token (none when ``role`` is None)."""
        assert self.client is not None
        return self.client.call(method, path, TOKENS[role] if role else None, body, timeout=timeout)

    def metrics(self) -> str:
        return self.call("GET", "/metrics").body.decode()

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.metrics(), name, **labels)

    def plans(self) -> dict[str, dict]:
        """``GET /api/plans`` by id (``running``, ``program``, ``candidate``, ``proposed-N``)."""
        return {p["id"]: p for p in self.call("GET", "/api/plans", "viewer").json()}

    def running_plan(self) -> dict:
        return self.plans()["running"]

    def health(self) -> dict:
        return self.call("GET", "/api/health", "viewer").json()

    def intersections(self) -> list[str]:
        return [i["tls"] for i in self.call("GET", "/api/intersections", "viewer").json()]

    def api_counts_total(self) -> int:
        """Vehicles counted, summed over ``GET /api/counts`` (every movement and bin)."""
        return sum(int(c["count"]) for c in self.call("GET", "/api/counts", "viewer").json())

    def committed_counts(self) -> int:
        """Crossings committed to ``state.sqlite``."""
        return committed_counts(self.state)

    def cabinets(self) -> dict[str, Cabinet]:
        """Per intersection, what its emulated cabinet runs (ports from ``sil-ports.json``)."""
        ports = json.loads((self.state / "sil-ports.json").read_text())
        for port in ports.values():
            if port not in self._cabinet_clients:  # a restart's cabinets answer on new ports
                self._cabinet_clients[port] = SnmpClient("127.0.0.1", port, V2cCredentials(community="public"),
                                                         loop=self._snmp)  # type: ignore[arg-type]
        return {tls: read_cabinet(self._cabinet_clients[port]) for tls, port in ports.items()}

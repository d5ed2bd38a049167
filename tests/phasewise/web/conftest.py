"""The dashboard/API tests' tools: tokens per role, a plain HTTP client, a SIL daemon.

Everything runs through real processes on loopback: ``phasewise run`` (software in the loop:
SUMO + emulated NTCIP cabinets) or ``phasewise serve``, requests over TCP to their port.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from phasewise.web.auth import hash_token

REPO = Path(__file__).resolve().parents[3]
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
ROLES = ("viewer", "engineer", "operator")
TOKENS = {role: f"{role}-{n}.s3cret-{role}-token" for n, role in enumerate(ROLES)}  # name = role-N
NAMES = {role: token.split(".")[0] for role, token in TOKENS.items()}


def tokens_yaml(indent: str = "  ") -> str:
    """The ``tokens:`` entries of TOKENS (hashed as a config keeps them)."""
    return "".join(f'{indent}- {{name: {NAMES[r]}, role: {r}, hash: "{hash_token(t)}"}}\n' for r, t in TOKENS.items())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


@dataclass
class Client:
    """One user agent: HTTP/1.1 to ``port``, keeps cookies, never follows redirects."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, token: str | None = None, body: object = None,
             form: dict[str, str] | None = None, headers: dict[str, str] | None = None, timeout: float = 15.0) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = None
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None:
            data, h["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data, h["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            reply = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(),
                          [v for k, v in r.getheaders() if k.lower() == "set-cookie"])
            for k, v in r.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    value = rest.split(";", 1)[0]
                    if 'expires=thu, 01 jan 1970' in v.lower() or "max-age=0" in v.lower():
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = value
            return reply
        finally:
            conn.close()

    def login(self, token: str) -> Reply:
        page = self.call("GET", "/login")
        csrf = page.body.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return self.call("POST", "/login", form={"token": token, "csrf": csrf})


class Process:
    """A ``phasewise`` command in the background, its stderr in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log_path = log
        self.stderr = open(log, "w")
        self.proc = subprocess.Popen([*PHASEWISE, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=self.stderr, text=True)

    def log(self) -> str:
        self.stderr.flush()
        return self.log_path.read_text()

    def wait(self, condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) waiting for {what}: {self.log()[-2000:]}")
            try:
                if condition():
                    return
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timeout waiting for {what}: {self.log()[-2000:]}")

    def stop(self) -> None:
        """SIGKILL: the graceful stop (tested by the daemon's own tests) would measure the static
        baseline for seconds."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        self.stderr.close()


class SilDaemon(Process):
    """``phasewise run`` in software in the loop on a 2-intersection corridor, tokens of every role."""

    def __init__(self, tmp: Path, speed: float = 5, session_s: float = 3600, login_failures: int = 5) -> None:
        self.tmp, self.state = tmp, tmp / "state"
        (tmp / "faults.json").write_text("{}")
        config = tmp / "site.yaml"
        config.write_text(
            f"site: web-test\nmode: sil\nspeed: {speed}\nduration_s: 3600\n"
            'network: {scenario: "corridor:demand=high,intersections=2"}\n'
            "gate: {enabled: false}\npolicy: {replan_s: 60}\n"
            f"controller: {{emulated: {{fault_file: {tmp / 'faults.json'}}}}}\n"
            f"http:\n  port: 0\n  session_s: {session_s}\n  login_failures_per_minute: {login_failures}\n"
            f"  tokens:\n{tokens_yaml('    ')}"
            f"state_dir: {self.state}\nlog: {{level: info, format: json}}\n")
        super().__init__(["run", "--config", str(config)], tmp / "daemon.log")
        port_file = self.state / "http.port"
        self.wait(lambda: port_file.read_text().strip(), 60, "the http port")
        self.port = int(port_file.read_text())
        self.client = Client(self.port)
        self.wait(lambda: self.client.call("GET", "/readyz").status == 200, 60, "ready")

    def fault(self, **faults: object) -> None:
        tmp = self.tmp / "faults.json.tmp"
        tmp.write_text(json.dumps(faults))
        tmp.replace(self.tmp / "faults.json")

    def audit(self) -> list[dict]:
        path = self.state / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="session")
def sil_daemon(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One daemon for the API and browser tests (starting one takes seconds). Its login limit
    is high: session expiry and rate limiting are tested on ``phasewise serve``."""
    daemon = SilDaemon(tmp_path_factory.mktemp("sil-web"), speed=5, login_failures=100)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def web():  # type: ignore[no-untyped-def]
    """This module (tokens, Client, SilDaemon...): test modules cannot import a conftest."""
    return sys.modules[__name__]

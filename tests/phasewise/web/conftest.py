"""The dashboard/API tests' tools: tokens per role, a plain HTTP client, a SIL daemon.

Everything runs through real processes on loopback: ``phasewise run`` (software in the loop:
SUMO + emulated NTCIP cabinets) or ``phasewise serve``, requests over TCP to their port.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
STREAM_PIECE_BYTES = 64 * 1024


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
             form: dict[str, str] | None = None, headers: dict[str, str] | None = None, timeout: float = 15.0,
             raw: bytes | None = None) -> Reply:
        """``body`` is sent as JSON, ``form`` as a form, ``raw`` as it is (as JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = None
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None:
            data, h["Content-Type"] = json.dumps(body).encode(), "application/json"
        if raw is not None:
            data, h["Content-Type"] = raw, "application/json"
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

    def login(self, token: str, headers: dict[str, str] | None = None) -> Reply:
        page = self.call("GET", "/login", headers=headers)
        csrf = page.body.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return self.call("POST", "/login", form={"token": token, "csrf": csrf}, headers=headers)


@dataclass
class Streamed:
    """The answer to a request whose body was still being sent; ``sent``: body bytes sent by then."""

    status: int
    body: bytes
    sent: int


def post_streaming(port: int, path: str, body_bytes: int, chunked: bool = False,
                   headers: dict[str, str] | None = None, timeout_s: float = 60.0) -> Streamed:
    """POST ``body_bytes`` bytes to ``path`` over a raw socket, announced by Content-Length or sent
    chunked, and stop sending as soon as the server answers (a server that waits for the whole
    body gets all of it)."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_bytes}"]
    pieces = _body_pieces(body_bytes, chunked)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        sent, pending, answer = 0, next(pieces, b""), b""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not _whole_answer(answer):
            writing = [sock] if pending and not answer else []
            readable, writable, _ = select.select([sock], writing, [], 1.0)
            if readable:
                data = _recv(sock)
                if data == b"":
                    break
                answer += data or b""
            elif writable:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = b""  # the server has closed: what is left is to read its answer
                    continue
                sent += n
                pending = pending[n:] or next(pieces, b"")
    if not answer:
        raise AssertionError(f"no answer to POST {path} after {sent} body bytes")
    head_part, _, body = answer.partition(b"\r\n\r\n")
    return Streamed(int(head_part.split(b" ", 2)[1]), body, sent)


def _body_pieces(body_bytes: int, chunked: bool) -> Iterator[bytes]:
    for start in range(0, body_bytes, STREAM_PIECE_BYTES):
        piece = b"7" * min(STREAM_PIECE_BYTES, body_bytes - start)
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def _recv(sock: socket.socket) -> bytes | None:
    """What the server sent; b"" once it has closed; None when nothing is there yet."""
    try:
        return sock.recv(1 << 16)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""


def _whole_answer(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), 0)
    return len(body) >= length


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


class Served(Process):
    """``phasewise serve`` on an empty results folder, tokens of every role; ``args``: more options."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.results = tmp / "results"
        self.results.mkdir(parents=True)
        (tmp / "tokens.yaml").write_text("tokens:\n" + tokens_yaml())
        super().__init__(["serve", "--results", str(self.results), "--tokens", str(tmp / "tokens.yaml"), "--port", "0",
                          *args], tmp / "serve.log")
        self.wait(lambda: "serving " in self.log(), 60, "the server")
        self.port = int(self.log().split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        self.client = Client(self.port)

    def audit(self) -> list[dict]:
        path = self.results / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class SilDaemon(Process):
    """``phasewise run`` in software in the loop on a 2-intersection corridor, tokens of every role;
    ``http``: more lines of its config's ``http:`` section."""

    def __init__(self, tmp: Path, speed: float = 5, session_s: float = 3600, login_failures: int = 5,
                 http: str = "") -> None:
        self.tmp, self.state = tmp, tmp / "state"
        (tmp / "faults.json").write_text("{}")
        config = tmp / "site.yaml"
        config.write_text(
            f"site: web-test\nmode: sil\nspeed: {speed}\nduration_s: 3600\n"
            'network: {scenario: "corridor:demand=high,intersections=2"}\n'
            "gate: {enabled: false}\npolicy: {replan_s: 60}\n"
            f"controller: {{emulated: {{fault_file: {tmp / 'faults.json'}}}}}\n"
            f"http:\n  port: 0\n  session_s: {session_s}\n  login_failures_per_minute: {login_failures}\n{http}"
            f"  tokens:\n{tokens_yaml('    ')}"
            f"state_dir: {self.state}\nlog: {{level: info, format: json}}\n")
        super().__init__(["run", "--config", str(config)], tmp / "daemon.log")
        port_file = self.state / "http.port"
        try:
            self.wait(lambda: port_file.read_text().strip(), 120, "the http port")
            self.port = int(port_file.read_text())
            self.client = Client(self.port)
            self.wait(lambda: self.client.call("GET", "/readyz").status == 200, 120, "ready")
        except BaseException:
            self.stop()  # a daemon that did not come up must not outlive the test
            raise

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

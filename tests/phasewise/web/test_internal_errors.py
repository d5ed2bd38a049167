"""A bug behind a route (an exception no route expects) is a 500 with a short JSON reason,
the security headers and an audit entry, and one logged error line: never the web server's
traceback on the console (``phasewise.web.middleware.InternalErrors``)."""

from __future__ import annotations

import http.client
import json
import logging
from pathlib import Path

import pytest

from phasewise.web.api import create_app
from phasewise.web.audit import AuditLog
from phasewise.web.auth import Authenticator, TokenRecord, hash_token
from phasewise.web.results import ResultsSource
from phasewise.web.server import WebServer

TOKEN = "alice.s3cret"


class BrokenSource(ResultsSource):
    """A site (live: it takes proposals) whose reading and proposing have bugs."""

    live = True

    def snapshot(self):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("a bug in a reader")

    def propose(self, plan):  # type: ignore[no-untyped-def]
        raise RuntimeError("another bug")


def _call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                       "Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def test_a_bug_is_a_clean_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    auth = Authenticator([TokenRecord("alice", "operator", hash_token(TOKEN))])
    server = WebServer(create_app(BrokenSource(tmp_path), auth, audit), "127.0.0.1", 0).start()
    try:
        with caplog.at_level(logging.ERROR, logger="phasewise.web.middleware"):
            status, headers, body = _call(server.port, "GET", "/api/snapshot")
            phase = {"phase": 0, "green_s": 20, "yellow_s": 3, "all_red_s": 1, "min_green_s": 5, "max_green_s": 60}
            plan = json.dumps({"intersections": [{"tls_id": "J0", "cycle_s": 24, "offset_s": 0,
                                                  "coordinated_phase": 0, "phases": [phase]}]}).encode()
            posted, _, _ = _call(server.port, "POST", "/api/plans", plan)
    finally:
        server.stop()
    assert status == 500 and json.loads(body) == {"detail": "internal error (a bug; see the server's log)"}
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert posted == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0] == "internal error answering GET /api/snapshot: ZeroDivisionError: a bug in a reader (a bug)"
    assert any("POST /api/plans: RuntimeError: another bug" in e for e in errors)
    (entry,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert entry["status"] == 500 and entry["path"] == "/api/plans" and entry["who"] == "alice"

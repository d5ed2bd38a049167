"""Whose address the dashboard believes (``phasewise/web/server.py``), through ``phasewise serve``'s
real port: without a trusted proxy, the default, a loopback client that names a new
``X-Forwarded-For`` address for each guess is still limited after the configured failures and
audited as 127.0.0.1; with ``--trusted-proxy 127.0.0.1`` the header names the client."""

from __future__ import annotations

FAILURES = 3
WRONG = "operator-2.guess"


def _logins(server) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(e["client"], e["result"]) for e in server.audit() if e["path"] == "/login"]


def test_forwarded_for_is_ignored_by_default(web, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = web.Served(tmp_path, "--login-failures-per-minute", str(FAILURES))
    try:
        attacker = web.Client(server.port)
        for i in range(FAILURES):
            reply = attacker.login(WRONG, headers={"X-Forwarded-For": f"203.0.113.{i}"})
            assert reply.headers["location"] == "/login?error=token"
        assert attacker.login(WRONG, headers={"X-Forwarded-For": "203.0.113.99"}).status == 429
        bearer = server.client.call("GET", "/api/snapshot", WRONG, headers={"X-Forwarded-For": "203.0.113.100"})
        assert bearer.status == 429
        assert _logins(server) == ([("127.0.0.1", "login failed: wrong token")] * FAILURES
                                   + [("127.0.0.1", "login refused: too many failed attempts")])
    finally:
        server.stop()


def test_forwarded_for_from_a_trusted_proxy(web, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = web.Served(tmp_path, "--login-failures-per-minute", str(FAILURES), "--trusted-proxy", "127.0.0.1")
    try:
        proxy = web.Client(server.port)
        clients = [f"198.51.100.{i}" for i in range(FAILURES + 2)]
        for client in clients:  # one failure each: nobody is limited
            assert proxy.login(WRONG, headers={"X-Forwarded-For": client}).headers["location"] == "/login?error=token"
        for _ in range(FAILURES - 1):
            proxy.login(WRONG, headers={"X-Forwarded-For": clients[0]})
        assert proxy.login(WRONG, headers={"X-Forwarded-For": clients[0]}).status == 429  # that client, limited
        assert proxy.login(web.TOKENS["viewer"], headers={"X-Forwarded-For": clients[1]}).headers["location"] == "/"
        audited = _logins(server)
        assert [c for c, _ in audited] == clients + [clients[0]] * FAILURES + [clients[1]]
        assert audited[-2:] == [(clients[0], "login refused: too many failed attempts"), (clients[1], "logged in")]
    finally:
        server.stop()

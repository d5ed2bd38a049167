"""The request body limit (``phasewise/web/body_limit.py``) through real ports: a body over it is
refused (413) before the server reads it and before the token is checked, whether its length
is announced or it comes chunked; the refusal is audited like any state-changing call; the
limit is ``http.max_body_bytes`` in a daemon config and ``--max-body-bytes`` of
``phasewise serve``."""

from __future__ import annotations

import json
from typing import Any

import pytest

MB = 1_000_000
HUGE = 50 * MB
SMALL_LIMIT = 4000


def _refusals(server: Any, before: int, path: str) -> list[tuple[Any, ...]]:
    return [(e["status"], e["who"], e["client"], e["result"]) for e in server.audit()[before:] if e["path"] == path]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused_before_it_is_sent(web, sil_daemon: Any, chunked: bool) -> None:  # type: ignore[no-untyped-def]
    before = len(sil_daemon.audit())
    answer = web.post_streaming(sil_daemon.port, "/api/plans", HUGE, chunked=chunked)
    assert answer.status == 413 and json.loads(answer.body) == {"detail": "request body larger than 1000000 bytes"}
    # answered while the client was still sending: the server did not read 50 MB (it read at most
    # the 1 MB limit; the rest sent is what the sockets' buffers took)
    assert answer.sent < HUGE // 2
    assert _refusals(sil_daemon, before, "/api/plans") == [
        (413, None, "127.0.0.1", "refused: request body larger than 1000000 bytes")]
    assert sil_daemon.client.call("GET", "/api/snapshot", web.TOKENS["viewer"]).status == 200


def test_the_limit_comes_before_the_token(web, sil_daemon: Any) -> None:  # type: ignore[no-untyped-def]
    before = len(sil_daemon.audit())
    for token in ("operator-2.forged-secret", web.TOKENS["operator"]):
        answer = web.post_streaming(sil_daemon.port, "/api/control/take-back", HUGE,
                                    headers={"Authorization": f"Bearer {token}"})
        assert answer.status == 413
    # no token was looked at: no name claimed, no operator recognised
    assert [r[:2] for r in _refusals(sil_daemon, before, "/api/control/take-back")] == [(413, None), (413, None)]


@pytest.fixture(scope="module")
def configured(web, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A daemon with a small body limit, behind a proxy on loopback."""
    daemon = web.SilDaemon(tmp_path_factory.mktemp("sil-limits"), speed=5,
                           http=f'  max_body_bytes: {SMALL_LIMIT}\n  trusted_proxies: ["127.0.0.1"]\n')
    try:
        yield daemon
    finally:
        daemon.stop()


def test_limit_and_proxy_from_the_daemon_config(web, configured: Any) -> None:  # type: ignore[no-untyped-def]
    before = len(configured.audit())
    forwarded = {"X-Forwarded-For": "192.0.2.7"}
    over = web.post_streaming(configured.port, "/api/plans", SMALL_LIMIT + 1, headers=forwarded)
    assert over.status == 413 and json.loads(over.body)["detail"] == f"request body larger than {SMALL_LIMIT} bytes"
    within = configured.client.call("POST", "/api/plans", raw=b" " * (SMALL_LIMIT - 2) + b"{}", headers=forwarded)
    assert within.status == 401  # read, then refused for want of a token
    assert [r[:3] for r in _refusals(configured, before, "/api/plans")] == [(413, None, "192.0.2.7"),
                                                                            (401, None, "192.0.2.7")]


def test_limit_of_serve(web, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = web.Served(tmp_path, "--max-body-bytes", str(SMALL_LIMIT))
    try:
        for chunked in (False, True):
            over = web.post_streaming(server.port, "/api/plans/check", SMALL_LIMIT + 1, chunked=chunked)
            assert over.status == 413, chunked
        not_a_plan = {"pad": "n" * (SMALL_LIMIT - 100)}  # within the limit: read, parsed, refused as no plan
        assert server.client.call("POST", "/api/plans/check", web.TOKENS["engineer"], not_a_plan).status == 422
        assert [r[0] for r in _refusals(server, 0, "/api/plans/check")] == [413, 413, 422]
    finally:
        server.stop()

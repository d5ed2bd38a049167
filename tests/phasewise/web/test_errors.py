"""Refusals never echo the request (``phasewise/web/errors.py``), through a daemon's real port: an
engineer's invalid plan of ~0.9 MB (under the body limit, so it is read and parsed) gets a 422
of a few hundred bytes, and its audit entry a one-line reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

FILLER = "echo-me-" * 112_500  # 0.9 MB

PHASE = {"phase": FILLER, "green_s": 20, "yellow_s": 3, "all_red_s": 2, "min_green_s": 5, "max_green_s": 50}
INVALID = {
    "not an object": [FILLER],  # refused by FastAPI's own validation
    "not a plan": {"intersections": [{"tls_id": "J0", "cycle_s": 60, "offset_s": 0, "coordinated_phase": 0,
                                      "phases": [PHASE]}]},  # by the plan parser (a phase number that is text)
    "not JSON": '{"intersections": [' + FILLER,  # by the JSON decoder
}


@pytest.mark.parametrize("document", INVALID)
def test_an_invalid_plan_is_not_echoed(web, sil_daemon: Any, document: str) -> None:  # type: ignore[no-untyped-def]
    value = INVALID[document]
    raw = (value if isinstance(value, str) else json.dumps(value)).encode()
    assert 800_000 < len(raw) < 1_000_000
    before = len(sil_daemon.audit())
    reply = sil_daemon.client.call("POST", "/api/plans", web.TOKENS["engineer"], raw=raw)
    assert reply.status == 422 and len(reply.body) < 1000, reply.body[:2000]
    detail = reply.json()["detail"]
    assert isinstance(detail, str) or all(set(e) == {"type", "loc", "msg"} for e in detail)
    (entry,) = [e for e in sil_daemon.audit()[before:] if e["path"] == "/api/plans"]
    # FastAPI decodes JSON before it resolves the route's dependencies: a body that is no JSON is
    # refused before the token is looked at
    who = None if document == "not JSON" else web.NAMES["engineer"]
    assert (entry["status"], entry["who"]) == (422, who) and len(entry["result"]) <= 300

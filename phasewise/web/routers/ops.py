"""The daemon's operations endpoints, without a token as Prometheus and probes expect:
``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz`` (200 or 503 with the reason)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

router = APIRouter()


@dataclasses.dataclass(frozen=True)
class OpsProbes:
    """The daemon's operations endpoints: Prometheus text and the two probes."""

    metrics: Callable[[], str]
    alive: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]


def _ops(request: Request) -> OpsProbes:
    return request.app.state.ops  # type: ignore[no-any-return]


def _probe(check: Callable[[], tuple[bool, str]]) -> Response:
    ok, reason = check()
    return Response(json.dumps({"ok": ok, "reason": reason}) + "\n", status_code=200 if ok else 503,
                    media_type="application/json")


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_ops(request).metrics(), media_type="text/plain; version=0.0.4")


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> Response:
    return _probe(_ops(request).alive)


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> Response:
    return _probe(_ops(request).ready)

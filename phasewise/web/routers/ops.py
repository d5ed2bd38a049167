"""The operations endpoints, without a token as Prometheus and probes expect: ``/healthz``
and ``/readyz`` (200 or 503 with the reason) and, for the daemon, ``/metrics`` (Prometheus
text; ``phasewise serve`` has no metrics: 404)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

router = APIRouter()


@dataclasses.dataclass(frozen=True)
class OpsProbes:
    """The operations endpoints: the two probes and Prometheus text (None: no ``/metrics``)."""

    metrics: Callable[[], str] | None
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
    render = _ops(request).metrics
    if render is None:
        raise HTTPException(404, "no metrics here (phasewise run has them)")
    return PlainTextResponse(render(), media_type="text/plain; version=0.0.4")


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> Response:
    return _probe(_ops(request).alive)


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> Response:
    return _probe(_ops(request).ready)

"""What every response of the dashboard/API goes through: security headers, the audit trail
and the answer to a bug.

They are pure ASGI middlewares that read the request's headers and the route's state, never
its body, so the body limit (``phasewise.web.body_limit``) can sit inside them and a 413 is
audited and gets the headers like any other answer:

    AuditTrail(SecurityHeaders(BodyLimit(InternalErrors(app))))

``InternalErrors`` turns an exception a route did not expect (a bug) into a 500 with a short
JSON reason and one logged error line (the traceback with ``--debug`` or in the daemon's JSON
log), instead of the web server's traceback on the console.

``AuditTrail`` writes one entry per request that is not a GET/HEAD/OPTIONS, whatever its
outcome (401, 403, 409, 413, 422, 200, 500...), before its response leaves. It reads what the
routes leave in ``request.state``: ``principal`` (who, once authenticated), ``claimed`` (the
name a refused token claimed) and ``result`` (a sentence; else the status's phrase).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from phasewise.web.audit import AuditLog

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and ``Cache-Control: no-store`` under ``/api/``) to every
    response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers + ([(b"cache-control", b"no-store")] if scope["path"].startswith("/api/") else [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                message = {**message, "headers": headers + [(k, v) for k, v in extra if k not in present]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AuditTrail:
    """One audit entry per state-changing request (module docstring)."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app, self.audit = app, audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        written = False

        async def send_audited(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                self._write(scope, state, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            if not written:  # the server answers 500
                self._write(scope, state, 500)
            raise

    def _write(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        who = state.get("principal")
        client = scope.get("client")
        self.audit.write(who=who.name if who else state.get("claimed"), role=who.role if who else None,
                         via=who.via if who else None, client=client[0] if client else "unknown",
                         method=scope["method"], path=scope["path"], status=status,
                         result=state.get("result") or _reason(status))


class InternalErrors:
    """A 500 with ``{"detail": "internal error ..."}`` for an exception no route expected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            log.error("internal error answering %s %s: %s: %s (a bug)", scope["method"], scope["path"],
                      type(exc).__name__, str(exc)[:300], exc_info=log.isEnabledFor(logging.DEBUG))
            if started:  # the answer is already on its way: only closing the connection is left
                return
            scope.setdefault("state", {})["result"] = "internal error"
            body = json.dumps({"detail": "internal error (a bug; see the server's log)"}).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)

"""Refuse a request body larger than a limit (413) before anything reads or parses it.

A pure ASGI middleware around the whole app: only the audit trail and the security headers
(``phasewise.web.middleware``, which read headers and never the body) are outside it, so a
413 is audited like any refusal. It answers before the route runs, hence before the token is
checked and before FastAPI reads a JSON or form body:

* with ``Content-Length``: a length over the limit is refused at once, nothing read (the
  server enforces the announced length for smaller bodies);
* chunked (no length announced): the body is read here, counting bytes as they arrive, and
  refused as soon as the count passes the limit; a body within it is handed on whole.

The refusal closes the connection (``Connection: close``), so the server does not go on
reading what the client still sends. Limit: ``http.max_body_bytes`` (``phasewise run``),
``--max-body-bytes`` (``phasewise serve``); a plan JSON is a few kB.

    app = BodyLimit(app, max_bytes=1_000_000)
"""

from __future__ import annotations

import json
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1_000_000

Outcome = Literal["complete", "too large", "client gone"]


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", ()) if key.lower() == name), None)


class BodyLimit:
    """Answers 413 to a request whose body is over ``max_bytes`` (module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            if length.strip().isdigit() and int(length) > self.max_bytes:
                await self._refuse(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if _header(scope, b"transfer-encoding") is None:  # no body
            await self.app(scope, receive, send)
            return
        outcome, body = await self._read_within_limit(receive)
        if outcome == "complete":
            await self.app(scope, _replay(body, receive), send)
        elif outcome == "too large":
            await self._refuse(scope, send)
        # "client gone": it left before its body ended, there is no one to answer

    async def _read_within_limit(self, receive: Receive) -> tuple[Outcome, bytes]:
        """The chunked body once it has ended within the limit; stops reading as soon as it is
        over the limit or the client has gone."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return "client gone", b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return "too large", b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                return "complete", b"".join(chunks)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        scope.setdefault("state", {})["result"] = f"refused: {detail}"
        payload = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` whole once, then what the server sends (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay

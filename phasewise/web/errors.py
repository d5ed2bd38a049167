"""How the dashboard/API answers a refused request: FastAPI's ``{"detail": ...}``, its detail
kept as the audit entry's result.

:func:`one_line` cuts any reason (a plan parser's message names the offending value) to one
short line before it reaches a response or the audit log.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

REASON_CHARS = 300  # a reason in a response or the audit log


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` on one line (whitespace collapsed), at most ``limit`` characters: a longer one
    keeps its start and its end (where a parser says what is wrong) around " … "."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    head = (limit - 3) // 2
    return f"{line[:head]} … {line[len(line) - (limit - 3 - head):]}"


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not getattr(request.state, "result", None):
        request.state.result = one_line(str(exc.detail))
    return await http_exception_handler(request, exc)


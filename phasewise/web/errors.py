"""How the dashboard/API answers a refused request: short, and never the caller's input back.

* ``HTTPException`` (401, 403, 404, 409, 422...): FastAPI's ``{"detail": ...}``, its detail
  kept as the audit entry's result;
* a request FastAPI cannot validate (malformed JSON, a list where an object belongs, a bad
  path or query value): 422 with ``{"detail": [{"type", "loc", "msg"}, ...]}``, FastAPI's
  error list without the ``input`` it would echo (a megabyte body would come back whole) and
  with every text cut to a line.

:func:`one_line` cuts any reason (a plan parser's message names the offending value) to one
short line before it reaches a response or the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

REASON_CHARS = 300  # a reason in a response or the audit log
PART_CHARS = 64     # one element of an error's location


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` on one line (whitespace collapsed), at most ``limit`` characters: a longer one
    keeps its start and its end (where a parser says what is wrong) around " … "."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    head = (limit - 3) // 2
    return f"{line[:head]} … {line[len(line) - (limit - 3 - head):]}"


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """FastAPI's errors without their ``input`` (nor ``ctx``/``url``), texts cut short."""
    out = []
    for error in errors:
        ctx = error.get("ctx") or {}
        msg = str(error.get("msg", ""))
        if isinstance(ctx.get("error"), str):  # e.g. JSON decode error: Expecting ',' delimiter
            msg = f"{msg}: {ctx['error']}"
        loc = [part if isinstance(part, int) else one_line(str(part), PART_CHARS) for part in error.get("loc", ())]
        out.append({"type": one_line(str(error.get("type", "")), PART_CHARS), "loc": loc, "msg": one_line(msg)})
    return out


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not getattr(request.state, "result", None):
        request.state.result = one_line(str(exc.detail))
    return await http_exception_handler(request, exc)


async def on_invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(list(exc.errors()))
    request.state.result = one_line("invalid request: " + "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
    return JSONResponse({"detail": errors}, status_code=422)

"""The page and its session: ``/`` (the dashboard, after login), ``/login`` (a token for a
session cookie, with a CSRF-protected form and the failed-login limit), ``/logout``, and
``/api/session`` (who is logged in; the CSRF token the page echoes on state-changing calls)."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from phasewise.web.deps import (
    CLAIMED_NAME_CHARS,
    SESSION_COOKIE,
    Auth,
    Source,
    Viewer,
    client_address,
)

STATIC = Path(__file__).resolve().parents[1] / "static"
LOGIN_CSRF_COOKIE = "phasewise_login_csrf"
LOGIN_FORM_S = 600
LOGIN_ERRORS = {"": "", "token": "Wrong token.", "csrf": "The form expired; try again.",
                "expired": "Your session has expired; log in again."}

router = APIRouter()


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    name: str
    role: str
    via: str
    csrf: str
    live: bool


def _secure(request: Request) -> bool:
    return bool(request.app.state.secure_cookies)


@router.get("/api/session")
def session(who: Viewer, source: Source) -> SessionInfo:
    return SessionInfo(who.name, who.role, who.via, who.csrf, source.live)


@router.get("/", include_in_schema=False)
def index(request: Request, auth: Auth) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or auth.session(session_id) is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/login", include_in_schema=False)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    page = (STATIC / "login.html").read_text().replace("{{csrf}}", csrf).replace("{{error}}", LOGIN_ERRORS.get(error, ""))
    response = HTMLResponse(page)
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=LOGIN_FORM_S, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")
    return response


@router.post("/login", include_in_schema=False)
def login(request: Request, auth: Auth, token: Annotated[str, Form()], csrf: Annotated[str, Form()]) -> Response:
    client = client_address(request)
    request.state.claimed = token.split(".", 1)[0][:CLAIMED_NAME_CHARS] or None
    wait = auth.limiter.retry_after_s(client)
    if wait:
        request.state.result = "login refused: too many failed attempts"
        return PlainTextResponse(f"too many failed logins; retry in {wait:.0f} s\n", status_code=429,
                                 headers={"Retry-After": str(int(wait) + 1)})
    if not hmac.compare_digest(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        request.state.result = "login refused: CSRF token missing or wrong"
        return RedirectResponse("/login?error=csrf", status_code=303)
    who = auth.login(token.strip())
    if who is None:
        auth.limiter.failed(client)
        request.state.result = "login failed: wrong token"
        return RedirectResponse("/login?error=token", status_code=303)
    request.state.principal = who
    request.state.result = "logged in"
    response = RedirectResponse("/", status_code=303)
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, who.session_id, max_age=int(auth.session_s), httponly=True,
                        samesite="strict", secure=secure, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=secure, httponly=True, samesite="strict")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, who: Viewer, auth: Auth) -> Response:
    auth.logout(who.session_id)
    request.state.result = "logged out"
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)

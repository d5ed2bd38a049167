"""What the dashboard's routes depend on: the site, the authenticator, the audit log, the caller.

:func:`phasewise.web.api.create_app` keeps the site (``source``), ``auth``, ``audit`` and the
page's settings in ``app.state``; routes take them, and the caller by the role it must have,
as annotated parameters (FastAPI's dependencies):

    @router.post("/api/control/hand-back")
    def hand_back(request: Request, who: Operator, source: Source) -> dict[str, Any]:
        return act(request, source, HandBack(who.name))

``Viewer``, ``Engineer`` and ``Operator`` authenticate the caller (a bearer token, or the
page's session cookie with its CSRF header on a state-changing request) and refuse a lower
role (403); an unknown caller gets 401, a client over the failed-login limit 429.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from daemon.snapshot import Action, SiteSource
from phasewise.web.audit import AuditLog
from phasewise.web.auth import Authenticator, Principal, role_allows
from phasewise.web.middleware import SAFE_METHODS

SESSION_COOKIE = "phasewise_session"
CSRF_HEADER = "X-CSRF-Token"
CLAIMED_NAME_CHARS = 64  # of a refused token's name, kept for the audit log


def get_source(request: Request) -> SiteSource:
    return request.app.state.source  # type: ignore[no-any-return]


def get_auth(request: Request) -> Authenticator:
    return request.app.state.auth  # type: ignore[no-any-return]


def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit  # type: ignore[no-any-return]


Source = Annotated[SiteSource, Depends(get_source)]
Auth = Annotated[Authenticator, Depends(get_auth)]
Audit = Annotated[AuditLog, Depends(get_audit)]


def client_address(request: Request) -> str:
    """The caller's address: the TCP peer, or what a trusted proxy forwarded (``server.py``)."""
    return request.client.host if request.client else "unknown"


def principal(request: Request, auth: Auth) -> Principal:
    """The authenticated caller, by bearer token or session cookie (module docstring)."""
    header = request.headers.get("authorization", "")
    if header:
        return _bearer(request, auth, header)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        return _session(request, auth, session_id)
    raise HTTPException(401, "authentication required: Authorization: Bearer <token> or log in at /login",
                        headers={"WWW-Authenticate": "Bearer"})


def _bearer(request: Request, auth: Auth, header: str) -> Principal:
    client = client_address(request)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    wait = 0.0 if auth.verified_before(token) else auth.limiter.retry_after_s(client)
    if wait:
        raise HTTPException(429, f"too many failed attempts; retry in {wait:.0f} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    request.state.claimed = token.split(".", 1)[0][:CLAIMED_NAME_CHARS] or None
    found = auth.bearer(token) if scheme.lower() == "bearer" else None
    if found is None:
        auth.limiter.failed(client)
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.principal = found
    return found


def _session(request: Request, auth: Auth, session_id: str) -> Principal:
    found = auth.session(session_id)
    if found is None:
        raise HTTPException(401, "session expired or unknown: log in again", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = found
    if request.method not in SAFE_METHODS and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), found.csrf):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (CSRF protection)")
    return found


def need(role: str) -> Callable[..., Principal]:
    """A dependency: the caller, refused (403) unless its role includes ``role``."""
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not role_allows(who.role, role):
            raise HTTPException(403, f"{who.name} is a {who.role}; this needs the {role} role")
        return who
    return check


Viewer = Annotated[Principal, Depends(need("viewer"))]
Engineer = Annotated[Principal, Depends(need("engineer"))]
Operator = Annotated[Principal, Depends(need("operator"))]


def act(request: Request, source: SiteSource, action: Action) -> dict[str, Any]:
    """Queue an operator's ``action`` on the live site; 409 when refused or offline."""
    if not source.live:
        raise HTTPException(409, "offline results: there is no daemon to act on")
    result = source.submit(action)
    request.state.result = result.detail
    if not result.ok:
        raise HTTPException(409, result.detail)
    return {"ok": True, "detail": result.detail}

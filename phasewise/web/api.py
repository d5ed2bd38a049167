"""The dashboard's HTTP API and page (FastAPI): one app for the live daemon and for results.

``create_app(source, auth, audit)`` serves a :class:`SiteSource`: the running daemon's
:class:`~daemon.view.DaemonView` (``phasewise run``) or a results folder read
from files (``phasewise serve``, :mod:`phasewise.web.results`). Routes and the role each
needs (``phasewise.web.auth``; OpenAPI schema at ``/api/openapi.json``):

======================================  ========  =============================================
GET  /api/snapshot                      viewer    everything below at once
GET  /api/intersections, /api/cameras,  viewer    live phase, queues per lane, camera health,
     /api/counts, /api/plans,                     counts per movement and 15-min bin, plans,
     /api/gate, /api/alarms, /api/health          gate decisions with evidence, alarms, health
GET  /api/events                        viewer    server-sent events: a snapshot each second
GET  /api/plans/{id}/time-space.png     viewer    the optimizer's time-space diagram of a plan
GET  /api/cameras/{id}/thumbnail.jpg    viewer    the camera's last annotated frame
GET  /api/session                       viewer    who is logged in; the session's CSRF token
POST /api/plans                         engineer  propose a plan (TimingPlan JSON) for operators
POST /api/plans/check, /{id}/check      engineer  the validator and safety checks on a plan
GET  /api/export/counts.csv, /api/audit engineer  counts export; the audit log
POST /api/plans/{id}/apply              operator  send a plan to the controller (safety layer)
POST /api/control/hand-back, take-back  operator  hand control to the controllers' own schedule
POST /api/alarms/{id}/acknowledge       operator  acknowledge an alarm
GET  /healthz /readyz /metrics          none      the daemon's operations endpoints (loopback)
======================================  ========  =============================================

Every request that is not a GET/HEAD is written to the audit log by a middleware, whatever
its outcome (401, 403, 409, 200...).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations, which name
# dependencies defined inside create_app, at definition time.

import asyncio
import dataclasses
import hmac
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon.snapshot import (
    AcknowledgeAlarm, Action, ActionResult, Alarm, ApplyPlan, CameraState, GateRecord, HandBack, Health,
    IntersectionState, MovementCount, PlanInfo, SiteSnapshot, SiteSource, TakeControl,
)
from optimizer.plan import TimingPlan
from phasewise.web.audit import AuditLog
from phasewise.web.auth import Authenticator, Principal, role_allows
from phasewise_errors import PhasewiseError

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "phasewise_session"
LOGIN_CSRF_COOKIE = "phasewise_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
EVENTS_EVERY_S = 1.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
}


@dataclasses.dataclass(frozen=True)
class OpsProbes:
    """The daemon's operations endpoints: Prometheus text and the two probes."""

    metrics: Callable[[], str]
    alive: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    name: str
    role: str
    via: str
    csrf: str
    live: bool


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(source: SiteSource, auth: Authenticator, audit: AuditLog, ops: OpsProbes | None = None,
               secure_cookies: bool = False, counts_csv: Callable[[], str] | None = None) -> FastAPI:
    """The FastAPI app (module docstring). ``secure_cookies``: mark cookies ``Secure`` (the
    site is served over TLS by a reverse proxy, see ``deploy/``)."""
    app = FastAPI(title="phasewise", summary="adaptive traffic signals: dashboard API",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    cache: dict[str, Any] = {"seq": None, "json": ""}

    # -- authentication -----------------------------------------------------------------------
    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        client = _client(request)
        if header:
            scheme, _, token = header.partition(" ")
            wait = 0.0 if auth.verified_before(token.strip()) else auth.limiter.retry_after_s(client)
            if wait:
                raise HTTPException(429, f"too many failed attempts; retry in {wait:.0f} s",
                                    headers={"Retry-After": str(int(wait) + 1)})
            request.state.claimed = token.strip().split(".", 1)[0][:64] or None
            found = auth.bearer(token.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                auth.limiter.failed(client)
                raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            request.state.principal = found
            return found
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            found = auth.session(session_id)
            if found is None:
                raise HTTPException(401, "session expired or unknown: log in again",
                                    headers={"WWW-Authenticate": "Bearer"})
            request.state.principal = found
            if request.method not in SAFE_METHODS and not hmac.compare_digest(
                    request.headers.get(CSRF_HEADER, ""), found.csrf):
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (CSRF protection)")
            return found
        raise HTTPException(401, "authentication required: Authorization: Bearer <token> or log in at /login",
                            headers={"WWW-Authenticate": "Bearer"})

    def need(role: str) -> Callable[..., Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if not role_allows(who.role, role):
                raise HTTPException(403, f"{who.name} is a {who.role}; this needs the {role} role")
            return who
        return check

    Viewer = Annotated[Principal, Depends(need("viewer"))]
    Engineer = Annotated[Principal, Depends(need("engineer"))]
    Operator = Annotated[Principal, Depends(need("operator"))]

    # -- audit and headers --------------------------------------------------------------------
    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not getattr(request.state, "result", None):
            request.state.result = str(exc.detail)
        return await http_exception_handler(request, exc)

    @app.middleware("http")
    async def audit_and_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if request.method not in SAFE_METHODS:
            who: Principal | None = getattr(request.state, "principal", None)
            audit.write(who=who.name if who else getattr(request.state, "claimed", None),
                        role=who.role if who else None, via=who.via if who else None, client=_client(request),
                        method=request.method, path=request.url.path, status=response.status_code,
                        result=getattr(request.state, "result", None) or _reason(response.status_code))
        return response

    def act(request: Request, action: Action) -> dict[str, Any]:
        if not source.live:
            raise HTTPException(409, "offline results: there is no daemon to act on")
        result = source.submit(action)
        request.state.result = result.detail
        if not result.ok:
            raise HTTPException(409, result.detail)
        return {"ok": True, "detail": result.detail}

    def parse_plan(request: Request, body: dict[str, Any]) -> TimingPlan:
        try:
            return TimingPlan.from_json(json.dumps(body))
        except PhasewiseError as exc:
            request.state.result = str(exc)
            raise HTTPException(422, str(exc)) from None

    # -- read ---------------------------------------------------------------------------------
    @app.get("/api/snapshot")
    def snapshot(who: Viewer) -> SiteSnapshot:
        return source.snapshot()

    @app.get("/api/intersections")
    def intersections(who: Viewer) -> list[IntersectionState]:
        return list(source.snapshot().intersections)

    @app.get("/api/cameras")
    def cameras(who: Viewer) -> list[CameraState]:
        return list(source.snapshot().cameras)

    @app.get("/api/counts")
    def counts(who: Viewer) -> list[MovementCount]:
        return list(source.snapshot().counts)

    @app.get("/api/plans")
    def plans(who: Viewer) -> list[PlanInfo]:
        return list(source.snapshot().plans)

    @app.get("/api/gate")
    def gate(who: Viewer) -> list[GateRecord]:
        return list(source.snapshot().gate)

    @app.get("/api/alarms")
    def alarms(who: Viewer) -> list[Alarm]:
        return list(source.snapshot().alarms)

    @app.get("/api/health")
    def health(who: Viewer) -> Health | None:
        return source.snapshot().health

    @app.get("/api/session")
    def session(who: Viewer) -> SessionInfo:
        return SessionInfo(who.name, who.role, who.via, who.csrf, source.live)

    @app.get("/api/events", response_class=StreamingResponse)
    async def events(request: Request, who: Viewer) -> StreamingResponse:
        """Server-sent events: ``event: snapshot`` with the snapshot's JSON each second."""
        async def stream():  # type: ignore[no-untyped-def]
            last = None
            while not await request.is_disconnected():
                if who.via == "session" and auth.session(who.session_id) is None:
                    yield "event: expired\ndata: {}\n\n"
                    return
                snap = source.snapshot()
                if snap.seq != last:
                    last = snap.seq
                    yield f"event: snapshot\ndata: {snapshot_json(snap)}\n\n"
                else:
                    yield ": no change\n\n"
                await asyncio.sleep(EVENTS_EVERY_S)
        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    def snapshot_json(snap: SiteSnapshot) -> str:
        if cache["seq"] != (id(snap), snap.seq):
            cache["seq"], cache["json"] = (id(snap), snap.seq), json.dumps(dataclasses.asdict(snap))
        return str(cache["json"])

    @app.get("/api/plans/{plan_id}/time-space.png", response_class=Response)
    def time_space(plan_id: str, who: Viewer) -> Response:
        png = source.time_space_png(plan_id)
        if png is None:
            raise HTTPException(404, f"no time-space diagram for plan {plan_id!r}")
        return Response(png, media_type="image/png")

    @app.get("/api/cameras/{camera}/thumbnail.jpg", response_class=Response)
    def thumbnail(camera: str, who: Viewer) -> Response:
        jpeg = source.thumbnail(camera)
        if jpeg is None:
            raise HTTPException(404, f"camera {camera!r} gives no image (virtual or not delivering frames)")
        return Response(jpeg, media_type="image/jpeg")

    # -- engineer -----------------------------------------------------------------------------
    @app.post("/api/plans")
    def propose(request: Request, who: Engineer, body: Annotated[dict[str, Any], Body()]) -> PlanInfo:
        """Propose a plan (a TimingPlan JSON document, as ``phasewise optimize`` writes plan.json)."""
        if not source.live:
            raise HTTPException(409, "offline results: there is no daemon to propose to")
        plan = parse_plan(request, body)
        try:
            info = source.propose(plan)
        except PhasewiseError as exc:
            request.state.result = str(exc)
            raise HTTPException(422, str(exc)) from None
        request.state.result = f"proposed as {info.id}"
        return info

    @app.post("/api/plans/check")
    def check_body(request: Request, who: Engineer, body: Annotated[dict[str, Any], Body()]) -> ActionResult:
        result = source.check(parse_plan(request, body))
        request.state.result = result.detail
        return result

    @app.post("/api/plans/{plan_id}/check")
    def check_plan(request: Request, plan_id: str, who: Engineer) -> ActionResult:
        plan = source.plan(plan_id)
        if plan is None:
            raise HTTPException(404, f"no plan {plan_id!r}")
        result = source.check(plan)
        request.state.result = result.detail
        return result

    @app.get("/api/export/counts.csv", response_class=PlainTextResponse)
    def export_counts(who: Engineer) -> PlainTextResponse:
        if counts_csv is not None:
            text = counts_csv()
        else:
            rows = ["bin_start_s,bin_s,tls,movement,count"]
            rows += [f"{c.bin_start_s:.0f},{c.bin_s:.0f},{c.tls},{c.movement},{c.count}" for c in source.snapshot().counts]
            text = "\n".join(rows) + "\n"
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="counts.csv"'})

    @app.get("/api/audit")
    def audit_tail(who: Engineer, n: int = 200) -> list[dict[str, Any]]:
        return audit.tail(max(1, min(n, 5000)))

    # -- operator -----------------------------------------------------------------------------
    @app.post("/api/plans/{plan_id}/apply")
    def apply(request: Request, plan_id: str, who: Operator) -> dict[str, Any]:
        return act(request, ApplyPlan(plan_id, who.name))

    @app.post("/api/control/hand-back")
    def hand_back(request: Request, who: Operator) -> dict[str, Any]:
        return act(request, HandBack(who.name))

    @app.post("/api/control/take-back")
    def take_back(request: Request, who: Operator) -> dict[str, Any]:
        return act(request, TakeControl(who.name))

    @app.post("/api/alarms/{alarm_id}/acknowledge")
    def acknowledge(request: Request, alarm_id: int, who: Operator) -> dict[str, Any]:
        return act(request, AcknowledgeAlarm(alarm_id, who.name))

    # -- the page and login -------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or auth.session(session_id) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/login", include_in_schema=False)
    def login_page(error: str = "") -> HTMLResponse:
        csrf = secrets.token_urlsafe(24)
        page = (STATIC / "login.html").read_text().replace("{{csrf}}", csrf).replace(
            "{{error}}", {"": "", "token": "Wrong token.", "csrf": "The form expired; try again.",
                          "expired": "Your session has expired; log in again."}.get(error, ""))
        response = HTMLResponse(page)
        response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=600, httponly=True, samesite="strict",
                            secure=secure_cookies, path="/login")
        return response

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form()], csrf: Annotated[str, Form()]) -> Response:
        client = _client(request)
        request.state.claimed = token.split(".", 1)[0][:64] or None
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
        response.set_cookie(SESSION_COOKIE, who.session_id, max_age=int(auth.session_s), httponly=True,
                            samesite="strict", secure=secure_cookies, path="/")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=secure_cookies, httponly=True, samesite="strict")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, who: Viewer) -> Response:
        auth.logout(who.session_id)
        request.state.result = "logged out"
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure_cookies, httponly=True, samesite="strict")
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- operations (unauthenticated, as Prometheus and probes expect) -------------------------
    if ops is not None:
        @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
        def metrics() -> PlainTextResponse:
            return PlainTextResponse(ops.metrics(), media_type="text/plain; version=0.0.4")

        def probe(check: Callable[[], tuple[bool, str]]) -> Response:
            ok, reason = check()
            return Response(json.dumps({"ok": ok, "reason": reason}) + "\n", status_code=200 if ok else 503,
                            media_type="application/json")

        @app.get("/healthz", include_in_schema=False)
        def healthz() -> Response:
            return probe(ops.alive)

        @app.get("/readyz", include_in_schema=False)
        def readyz() -> Response:
            return probe(ops.ready)
    return app


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)

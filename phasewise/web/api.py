"""The dashboard's HTTP API and page (FastAPI): one app for the live daemon and for results.

``create_app(source, auth, audit)`` serves a :class:`SiteSource`: the running daemon's
:class:`~daemon.view.DaemonView` (``phasewise run``) or a results folder read
from files (``phasewise serve``, :mod:`phasewise.web.results`). It keeps them in
``app.state`` (read by the routes' dependencies, :mod:`phasewise.web.deps`), wraps the app in
its middlewares and includes one router per resource (:mod:`phasewise.web.routers`). Routes
and the role each needs (``phasewise.web.auth``; OpenAPI schema at ``/api/openapi.json``):

======================================  ========  =============================================
GET  /api/snapshot                      viewer    everything below at once
GET  /api/intersections, /api/cameras,  viewer    live phase, queues per lane, camera health,
     /api/counts, /api/plans,                     counts per movement and 15-min bin, plans,
     /api/gate, /api/alarms, /api/health          gate decisions with evidence, alarms, health
GET  /api/events                        viewer    server-sent events: a snapshot each second
GET  /api/plans/{id}/time-space.png     viewer    the optimizer's time-space diagram of a plan
GET  /api/cameras/{id}/thumbnail.jpg    viewer    the camera's last annotated frame
GET  /api/measures, /api/measures/      viewer    ATSPM measures of the hi-res event log: per
     {device}/{coordination|split-fail            device the last ``hours`` (default 4), the
     ures}.png, /api/measures/heat-map.png        day × hour split-failure heat map
GET  /api/priority                      viewer    priority calls served now (API, preempt inputs, buses)
GET  /api/session                       viewer    who is logged in; the session's CSRF token
POST /api/plans                         engineer  propose a plan (TimingPlan JSON) for operators
POST /api/plans/check, /{id}/check      engineer  the validator and safety checks on a plan
GET  /api/export/counts.csv, /api/audit engineer  counts export; the audit log
POST /api/plans/{id}/apply              operator  send a plan to the controller (safety layer)
POST /api/control/hand-back, take-back  operator  hand control to the controllers' own schedule
POST /api/alarms/{id}/acknowledge       operator  acknowledge an alarm
POST /api/priority                      operator  a priority call for a vehicle due at an approach
GET  /healthz /readyz /metrics          none      operations endpoints (``phasewise serve``: no /metrics)
======================================  ========  =============================================

Every request goes through, from the outside in: the audit trail (every request that is not
a GET/HEAD is written to the audit log, whatever its outcome: 401, 403, 409, 413, 200...), the
security headers, and the body limit (413 for a body over ``max_body_bytes``, before it is
read and before the token is checked); :mod:`phasewise.web.middleware`,
:mod:`phasewise.web.body_limit`. A refused request never gets its input back
(:mod:`phasewise.web.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon.snapshot import SiteSource
from controllers.hires.recent import RecentMeasures
from phasewise.web.audit import AuditLog
from phasewise.web.auth import Authenticator
from phasewise.web.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from phasewise.web.errors import on_http_error, on_invalid_request
from phasewise.web.middleware import AuditTrail, InternalErrors, SecurityHeaders
from phasewise.web.routers import alarms, control, measures, page, plans, snapshot
from phasewise.web.routers import audit as audit_routes
from phasewise.web.routers import ops as ops_routes
from phasewise.web.routers.ops import OpsProbes
from phasewise.web.routers.snapshot import SnapshotJson

__all__ = ["OpsProbes", "create_app"]


def create_app(source: SiteSource, auth: Authenticator, audit: AuditLog, ops: OpsProbes | None = None,
               secure_cookies: bool = False, counts_csv: Callable[[], str] | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, event_log: Path | None = None) -> FastAPI:
    """The FastAPI app (module docstring). ``ops``: the operations endpoints (the daemon's;
    ``phasewise serve``'s probes); ``secure_cookies``: mark cookies ``Secure`` (the site is served over TLS by a
    reverse proxy, see ``deploy/``); ``counts_csv``: the counts export, when the source has
    its own (else made from the snapshot's counts); ``max_body_bytes``: the largest request
    body taken; ``event_log``: the folder of the site's hi-res event log (the measures routes)."""
    app = FastAPI(title="phasewise", summary="adaptive traffic signals: dashboard API",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.source, app.state.auth, app.state.audit, app.state.ops = source, auth, audit, ops
    app.state.secure_cookies, app.state.counts_csv = secure_cookies, counts_csv
    app.state.snapshot_json = SnapshotJson()
    app.state.event_log = RecentMeasures(event_log) if event_log is not None else None
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    for router in (snapshot.router, plans.router, control.router, alarms.router, audit_routes.router, page.router,
                   measures.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    if ops is not None:
        app.include_router(ops_routes.router)
    # each middleware added wraps the ones before it: the body limit is inside the other two
    app.add_middleware(InternalErrors)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AuditTrail, audit=audit)
    return app

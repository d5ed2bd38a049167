"""Plans: viewers read them and their time-space diagrams; engineers propose plans and run the
checks on one; operators apply one (through the daemon's safety layer, like every plan)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response

from daemon.snapshot import ActionResult, ApplyPlan, PlanInfo
from optimizer.plan import TimingPlan
from phasewise.web.deps import Engineer, Operator, Source, Viewer, act
from phasewise.web.errors import one_line
from phasewise_errors import PhasewiseError

router = APIRouter()


def parse_plan(request: Request, body: dict[str, Any]) -> TimingPlan:
    """``body`` as a plan; 422 with a one-line reason (never the document) when it is not one."""
    try:
        return TimingPlan.from_json(json.dumps(body))
    except PhasewiseError as exc:
        raise _refused(request, exc) from None


def _refused(request: Request, exc: Exception) -> HTTPException:
    request.state.result = one_line(str(exc))
    return HTTPException(422, request.state.result)


@router.get("/api/plans")
def plans(who: Viewer, source: Source) -> list[PlanInfo]:
    return list(source.snapshot().plans)


@router.get("/api/plans/{plan_id}/time-space.png", response_class=Response)
def time_space(plan_id: str, who: Viewer, source: Source) -> Response:
    png = source.time_space_png(plan_id)
    if png is None:
        raise HTTPException(404, f"no time-space diagram for plan {plan_id!r}")
    return Response(png, media_type="image/png")


@router.post("/api/plans")
def propose(request: Request, who: Engineer, source: Source, body: Annotated[dict[str, Any], Body()]) -> PlanInfo:
    """Propose a plan (a TimingPlan JSON document, as ``phasewise optimize`` writes plan.json)."""
    if not source.live:
        raise HTTPException(409, "offline results: there is no daemon to propose to")
    plan = parse_plan(request, body)
    try:
        info = source.propose(plan)
    except PhasewiseError as exc:
        raise _refused(request, exc) from None
    request.state.result = f"proposed as {info.id}"
    return info


@router.post("/api/plans/check")
def check_body(request: Request, who: Engineer, source: Source, body: Annotated[dict[str, Any], Body()]) -> ActionResult:
    result = source.check(parse_plan(request, body))
    request.state.result = result.detail
    return result


@router.post("/api/plans/{plan_id}/check")
def check_plan(request: Request, plan_id: str, who: Engineer, source: Source) -> ActionResult:
    plan = source.plan(plan_id)
    if plan is None:
        raise HTTPException(404, f"no plan {plan_id!r}")
    result = source.check(plan)
    request.state.result = result.detail
    return result


@router.post("/api/plans/{plan_id}/apply")
def apply(request: Request, plan_id: str, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, ApplyPlan(plan_id, who.name))

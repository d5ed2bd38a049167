"""Signal performance for viewers: ATSPM measures of the site's hi-res event log.

The event log is the daemon's (``state_dir/events``, SIL mode) or a results folder's
(``phasewise serve --results``: its ``events/`` or ``events.csv``); ``controllers.hires.recent`` computes,
with the ``atspm`` package, per intersection the Purdue coordination diagram and the split
failures of the last ``hours``, and the day × hour heat map of split failures.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from controllers.hires.recent import RecentMeasures
from phasewise.web.deps import Viewer
from phasewise_errors import PhasewiseError

router = APIRouter()

Hours = Annotated[float, Query(gt=0, le=24 * 31, description="the window, hours back from the newest event")]
DEFAULT_HOURS = 4.0


def _log(request: Request) -> RecentMeasures:
    log: RecentMeasures | None = request.app.state.event_log
    if log is None or not log.available():
        raise HTTPException(404, "no hi-res event log here (phasewise run in SIL mode, or sim --events into the results)")
    return log


async def _compute(fn: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)  # atspm takes seconds: not on the event loop
    except PhasewiseError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/api/measures")
async def measures(request: Request, who: Viewer, hours: Hours = DEFAULT_HOURS) -> dict[str, Any]:
    """Per device and phase over the window: arrivals on green, split failures, terminations, wait."""
    log = _log(request)
    charts = await _compute(log.recent, hours)
    names = log.names()
    return {"hours": hours, "devices": [{"device": d, "tls": names.get(d, str(d))} for d in sorted(charts.coordination.keys()
                                                                                          | charts.split_failures.keys())],
            "summary": charts.summary}


@router.get("/api/measures/{device}/{chart}.png", response_class=Response)
async def device_chart(request: Request, device: int, chart: str, who: Viewer, hours: Hours = DEFAULT_HOURS) -> Response:
    """``chart``: ``coordination`` (Purdue coordination diagram) or ``split-failures``."""
    if chart not in ("coordination", "split-failures"):
        raise HTTPException(404, f"no chart {chart!r}: coordination or split-failures")
    charts = await _compute(_log(request).recent, hours)
    png = (charts.coordination if chart == "coordination" else charts.split_failures).get(device)
    if png is None:
        raise HTTPException(404, f"no {chart} chart for device {device} in the last {hours:g} h")
    return Response(png, media_type="image/png")


@router.get("/api/measures/heat-map.png", response_class=Response)
async def heat_map(request: Request, who: Viewer) -> Response:
    """Split failures per intersection by day and hour, the whole log."""
    return Response(await _compute(_log(request).heat_map), media_type="image/png")

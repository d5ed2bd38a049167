"""The site as it is, for viewers: the snapshot and its parts, camera images, the event stream;
the counts export for engineers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from daemon.snapshot import (
    CameraState,
    GateRecord,
    Health,
    IntersectionState,
    MovementCount,
    SiteSnapshot,
    SiteSource,
)
from phasewise.web.auth import Authenticator, Principal
from phasewise.web.deps import Auth, Engineer, Source, Viewer

EVENTS_EVERY_S = 1.0

router = APIRouter()


class SnapshotJson:
    """The JSON of the latest snapshot, made once per snapshot however many streams send it."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._json = ""

    def __call__(self, snap: SiteSnapshot) -> str:
        if self._key != (id(snap), snap.seq):
            self._key, self._json = (id(snap), snap.seq), json.dumps(dataclasses.asdict(snap))
        return self._json


@router.get("/api/snapshot")
def snapshot(who: Viewer, source: Source) -> SiteSnapshot:
    return source.snapshot()


@router.get("/api/intersections")
def intersections(who: Viewer, source: Source) -> list[IntersectionState]:
    return list(source.snapshot().intersections)


@router.get("/api/cameras")
def cameras(who: Viewer, source: Source) -> list[CameraState]:
    return list(source.snapshot().cameras)


@router.get("/api/counts")
def counts(who: Viewer, source: Source) -> list[MovementCount]:
    return list(source.snapshot().counts)


@router.get("/api/gate")
def gate(who: Viewer, source: Source) -> list[GateRecord]:
    return list(source.snapshot().gate)


@router.get("/api/health")
def health(who: Viewer, source: Source) -> Health | None:
    return source.snapshot().health


@router.get("/api/events", response_class=StreamingResponse)
async def events(request: Request, who: Viewer, source: Source, auth: Auth) -> StreamingResponse:
    """Server-sent events: ``event: snapshot`` with the snapshot's JSON each second."""
    stream = _snapshots(request, who, source, auth, request.app.state.snapshot_json)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


async def _snapshots(request: Request, who: Principal, source: SiteSource, auth: Authenticator,
                     to_json: Callable[[SiteSnapshot], str]) -> AsyncIterator[str]:
    last = None
    while not await request.is_disconnected():
        if who.via == "session" and auth.session(who.session_id) is None:
            yield "event: expired\ndata: {}\n\n"
            return
        snap = source.snapshot()
        if snap.seq != last:
            last = snap.seq
            yield f"event: snapshot\ndata: {to_json(snap)}\n\n"
        else:
            yield ": no change\n\n"
        await asyncio.sleep(EVENTS_EVERY_S)


@router.get("/api/cameras/{camera}/thumbnail.jpg", response_class=Response)
def thumbnail(camera: str, who: Viewer, source: Source) -> Response:
    jpeg = source.thumbnail(camera)
    if jpeg is None:
        raise HTTPException(404, f"camera {camera!r} gives no image (virtual or not delivering frames)")
    return Response(jpeg, media_type="image/jpeg")


@router.get("/api/export/counts.csv", response_class=PlainTextResponse)
def export_counts(request: Request, who: Engineer, source: Source) -> PlainTextResponse:
    counts_csv: Callable[[], str] | None = request.app.state.counts_csv
    if counts_csv is not None:
        text = counts_csv()
    else:
        rows = ["bin_start_s,bin_s,tls,movement,count"]
        rows += [f"{c.bin_start_s:.0f},{c.bin_s:.0f},{c.tls},{c.movement},{c.count}" for c in source.snapshot().counts]
        text = "\n".join(rows) + "\n"
    return PlainTextResponse(text, media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="counts.csv"'})

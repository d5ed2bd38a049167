"""Alarms: viewers read them, operators acknowledge them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from daemon.snapshot import AcknowledgeAlarm, Alarm
from phasewise.web.deps import Operator, Source, Viewer, act

router = APIRouter()


@router.get("/api/alarms")
def alarms(who: Viewer, source: Source) -> list[Alarm]:
    return list(source.snapshot().alarms)


@router.post("/api/alarms/{alarm_id}/acknowledge")
def acknowledge(request: Request, alarm_id: int, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, AcknowledgeAlarm(alarm_id, who.name))

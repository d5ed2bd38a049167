"""Control, for operators: hand the intersections back to the controllers' own schedule, and
take them again (a hand-back holds until an operator takes control)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from daemon.snapshot import HandBack, TakeControl
from phasewise.web.deps import Operator, Source, act

router = APIRouter()


@router.post("/api/control/hand-back")
def hand_back(request: Request, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, HandBack(who.name))


@router.post("/api/control/take-back")
def take_back(request: Request, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, TakeControl(who.name))

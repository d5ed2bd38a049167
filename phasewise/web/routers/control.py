"""Control, for operators: hand the intersections back to the controllers' own schedule, and
take them again (a hand-back holds until an operator takes control); ask priority for an
emergency vehicle or a bus due at an approach (the field's stand-in for a preemption
emitter, e.g. from a dispatch system holding an operator token)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from daemon.snapshot import HandBack, PriorityState, RequestPriority, TakeControl
from phasewise.web.deps import Operator, Source, Viewer, act

router = APIRouter()


@router.post("/api/control/hand-back")
def hand_back(request: Request, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, HandBack(who.name))


@router.post("/api/control/take-back")
def take_back(request: Request, who: Operator, source: Source) -> dict[str, Any]:
    return act(request, source, TakeControl(who.name))


class PriorityBody(BaseModel):
    """A vehicle due at intersection ``tls`` from ``approach`` (its incoming edge, as in the
    snapshot's lanes) in ``eta_s`` seconds."""

    model_config = ConfigDict(extra="forbid")

    tls: str = Field(min_length=1, max_length=128)
    approach: str = Field(min_length=1, max_length=128)
    eta_s: float = Field(ge=0.0, le=600.0, allow_inf_nan=False)
    vehicle_class: Literal["emergency", "bus"] = "emergency"


@router.get("/api/priority")
def priority_calls(who: Viewer, source: Source) -> list[PriorityState]:
    """The priority calls served now: the API's, the controllers' preempt inputs, a
    GTFS-realtime feed's buses (oldest first)."""
    return list(source.snapshot().priority)


@router.post("/api/priority")
def priority(request: Request, who: Operator, source: Source, body: PriorityBody) -> dict[str, Any]:
    return act(request, source, RequestPriority(body.tls, body.approach, body.eta_s, body.vehicle_class, who.name))

"""The audit log, for engineers (``phasewise.web.audit``; written by ``phasewise.web.middleware``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from phasewise.web.deps import Audit, Engineer

AUDIT_TAIL_MAX = 5000

router = APIRouter()


@router.get("/api/audit")
def audit_tail(who: Engineer, audit: Audit, n: int = 200) -> list[dict[str, Any]]:
    return audit.tail(max(1, min(n, AUDIT_TAIL_MAX)))

"""The audit log: every state-changing call to the dashboard/API, one JSON object per line.

``audit.jsonl`` in the state dir (or the results folder of ``phasewise serve``) is opened in
append mode for each entry and flushed to disk before the response leaves, so an entry is
never rewritten and a crash loses none that was answered. An entry says who (token name and
role, or null when unauthenticated), what (method, path, action detail), when (UTC, ISO 8601)
and the result (HTTP status and a sentence)::

    {"t": "2026-11-28T10:02:03.120+00:00", "who": "alice", "role": "operator", "via": "session",
     "client": "127.0.0.1", "method": "POST", "path": "/api/plans/program/apply",
     "status": 200, "result": "plan program (network program) sent to the controller"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class AuditLog:
    """``path``: the JSON-lines file; None keeps no file (``phasewise serve`` on a folder it
    cannot write in, which it says at start): entries are then logged as warnings."""

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()

    def write(self, **entry: Any) -> None:
        """Append ``entry`` with its time; a write that fails is logged as an error (the
        request has already been answered; the daemon keeps running)."""
        record = {"t": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"), **entry}
        line = json.dumps(record, default=str) + "\n"
        if self.path is None:
            log.warning("audit (no audit file): %s", line.strip())
            return
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                log.error("audit log %s: write failed (%s): %s", self.path, exc, line.strip())

    def tail(self, n: int = 200) -> list[dict[str, Any]]:
        """The last ``n`` entries (oldest first)."""
        if self.path is None:
            return []
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("audit log %s: cannot read (%s)", self.path, exc.strerror or exc)
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash mid-write
        return out

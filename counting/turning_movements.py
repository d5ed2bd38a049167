"""Turning-movement counts in the layout traffic engineers exchange (15-minute bins).

One row per bin: ``DATE,TIME,INTID`` then, per approach NB, SB, EB, WB, the four turns
L, T, R, U (``NBL,NBT,NBR,NBU,SBL,...,WBU``), vehicles (``unit="veh"``) or PCU
(``unit="pcu"``). ``TIME`` is the bin's start; bins are aligned on the clock (quarter hours)
from ``start``, the wall-clock time of the video's first frame. Without one (a video that
records no creation time and no ``--start``) the times are relative: bins run from the first
frame, ``DATE`` is ``relative`` and ``TIME`` the time since the first frame, ``+HH:MM``.

Approach names map to their two-letter codes by their first word: ``northbound``/``nb``/
``north`` -> NB, and so on; other names raise ``ValueError`` naming the approach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from counting.events import CountedMovement
from counting.pcu import DEFAULT_PCU

APPROACH_CODES = ("NB", "SB", "EB", "WB")
TURN_CODES = {"left": "L", "through": "T", "right": "R", "uturn": "U"}
COLUMNS = ["DATE", "TIME", "INTID"] + [a + t for a in APPROACH_CODES for t in "LTRU"]
RELATIVE_DATE = "relative"  # DATE of every row when the first frame's wall-clock time is not known


def approach_code(approach: str) -> str:
    """``northbound`` -> ``NB`` etc.; ValueError for names that are not a compass direction."""
    key = approach.strip().lower()
    for code, word in zip(APPROACH_CODES, ("north", "south", "east", "west")):
        if key in (code.lower(), word, word + "bound"):
            return code
    raise ValueError(f"approach {approach!r} is not a compass direction; name it northbound, southbound, "
                     f"eastbound or westbound in the site file for turning-movement counts")


def tmc_rows(movements: Sequence[CountedMovement], *, start: datetime | None, intersection_id: str,
             duration_s: float, bin_s: int = 900, unit: str = "veh",
             pcu_weights: Mapping[int, float] = DEFAULT_PCU) -> list[dict[str, str | float]]:
    """Rows of :data:`COLUMNS`, every bin from the one holding ``start`` to the one holding the end
    (``start`` None: relative times, module docstring)."""
    origin = None if start is None else start.replace(minute=0, second=0, microsecond=0)
    offset_s = 0.0 if start is None or origin is None else (start - origin).total_seconds()
    tally: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for m in movements:
        b = int((offset_s + m.t_s) // bin_s)
        w = pcu_weights.get(m.class_id, 1.0) if unit == "pcu" else 1.0
        tally[b][approach_code(m.approach) + TURN_CODES[m.turn]] += w
    first, last = int(offset_s // bin_s), int((offset_s + max(duration_s, 0.0)) // bin_s)
    rows = []
    for b in range(first, last + 1):
        if origin is None:
            minutes = b * bin_s // 60
            date, time = RELATIVE_DATE, f"+{minutes // 60:02d}:{minutes % 60:02d}"
        else:
            t = origin + timedelta(seconds=b * bin_s)
            date, time = t.strftime("%Y-%m-%d"), t.strftime("%H:%M")
        row: dict[str, str | float] = {"DATE": date, "TIME": time, "INTID": intersection_id}
        for col in COLUMNS[3:]:
            v = tally[b].get(col, 0.0)
            row[col] = round(v, 2) if unit == "pcu" else int(v)
        rows.append(row)
    return rows

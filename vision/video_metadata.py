"""When a video was recorded, from its container: the ISO BMFF (MP4/MOV) ``mvhd`` box.

Cameras and phones write the recording's creation time into the movie header box
(``moov/mvhd``, ISO/IEC 14496-12 §8.2.2): version 0 holds it as a 32-bit, version 1 as a
64-bit count of seconds since 1904-01-01 00:00 UTC. OpenCV does not expose it and ffprobe is
not always installed, so the few boxes on the way are read here. A zero (what many encoders
and editors write when they do not know) or a time before 1970 means "not recorded".

    start = creation_time("clip.mp4")      # datetime in UTC, or None
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

MP4_EPOCH = datetime(1904, 1, 1, tzinfo=timezone.utc)
EARLIEST_PLAUSIBLE = datetime(1970, 1, 2, tzinfo=timezone.utc)
MAX_BOXES = 10_000  # a corrupt file must not keep the walk going


def creation_time(path: str | Path) -> datetime | None:
    """The creation time (UTC) in an MP4/MOV file's ``mvhd`` box; None when the file is not
    ISO BMFF, has no ``moov/mvhd``, cannot be read, or records no time (zero, before 1970)."""
    try:
        with open(path, "rb") as fh:
            size = Path(path).stat().st_size
            moov = _find_box(fh, 0, size, b"moov")
            if moov is None:
                return None
            mvhd = _find_box(fh, *moov, b"mvhd")
            if mvhd is None:
                return None
            fh.seek(mvhd[0])
            head = fh.read(12)
    except OSError:
        return None
    if len(head) < 8:
        return None
    version = head[0]
    if version == 1 and len(head) >= 12:
        seconds = struct.unpack(">Q", head[4:12])[0]
    elif version == 0:
        seconds = struct.unpack(">I", head[4:8])[0]
    else:
        return None
    try:
        when = MP4_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    return when if when >= EARLIEST_PLAUSIBLE else None


def _find_box(fh: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, payload end) of the first box of type ``kind`` between ``start`` and ``end``."""
    at = start
    for _ in range(MAX_BOXES):
        if at + 8 > end:
            return None
        fh.seek(at)
        header = fh.read(8)
        if len(header) < 8:
            return None
        size, box = struct.unpack(">I4s", header)
        payload = at + 8
        if size == 1:  # a 64-bit size follows the type
            large = fh.read(8)
            if len(large) < 8:
                return None
            size, payload = struct.unpack(">Q", large)[0], at + 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - at
        if size < payload - at or at + size > end:
            return None
        if box == kind:
            return payload, at + size
        at += size
    return None

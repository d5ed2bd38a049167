"""``vision.video_metadata.creation_time`` on hand-built MP4 boxes and the shared clips."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from pathlib import Path

from vision.video_metadata import creation_time

MP4_EPOCH_TO_UNIX_S = 2_082_844_800  # 1904-01-01 to 1970-01-01


def box(kind: bytes, payload: bytes, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(seconds: int, version: int = 0) -> bytes:
    if version == 1:
        return box(b"mvhd", bytes([1, 0, 0, 0]) + struct.pack(">QQ", seconds, seconds) + bytes(80))
    return box(b"mvhd", bytes([0, 0, 0, 0]) + struct.pack(">II", seconds, seconds) + bytes(80))


def mp4(tmp: Path, name: str, *boxes: bytes) -> Path:
    path = tmp / name
    path.write_bytes(box(b"ftyp", b"isom\0\0\0\0isom") + b"".join(boxes))
    return path


def test_creation_time_from_mvhd_versions_0_and_1_after_other_boxes(tmp_path: Path) -> None:
    when = datetime(2022, 9, 25, 9, 15, 44, tzinfo=timezone.utc)
    seconds = int(when.timestamp()) + MP4_EPOCH_TO_UNIX_S
    v0 = mp4(tmp_path, "v0.mp4", box(b"mdat", bytes(1000)), box(b"moov", box(b"udta", b"x" * 7) + mvhd(seconds)))
    v1 = mp4(tmp_path, "v1.mov", box(b"moov", mvhd(seconds, version=1), large=True), box(b"free", b""))
    assert creation_time(v0) == when and creation_time(v1) == when


def test_no_time_recorded_or_not_an_mp4_is_none(tmp_path: Path) -> None:
    assert creation_time(mp4(tmp_path, "zero.mp4", box(b"moov", mvhd(0)))) is None  # what many encoders write
    assert creation_time(mp4(tmp_path, "nomoov.mp4", box(b"mdat", bytes(64)))) is None
    truncated = mp4(tmp_path, "cut.mp4", box(b"moov", mvhd(3_700_000_000)))
    truncated.write_bytes(truncated.read_bytes()[:-90])
    assert creation_time(truncated) is None
    (tmp_path / "text.mp4").write_text("not a video at all\n")
    assert creation_time(tmp_path / "text.mp4") is None and creation_time(tmp_path / "missing.mp4") is None


def test_the_shared_clips_as_hachoir_reads_them(shared_data: Path) -> None:
    from hachoir.metadata import extractMetadata
    from hachoir.parser import createParser

    found = {}
    for video in sorted((shared_data / "videos").glob("*.mp4")):
        with createParser(str(video)) as parser:
            theirs = extractMetadata(parser).get("creation_date")
        ours = creation_time(video)
        # hachoir shows an unset time as the 1904 epoch itself; ours says None
        assert (ours.replace(tzinfo=None) if ours else datetime(1904, 1, 1)) == theirs, video.name
        found[video.name] = ours
    assert found["nl_highway_overpass.mp4"] == datetime(2019, 9, 27, 11, 22, 16, tzinfo=timezone.utc)
    assert found["hanoi_intersection.mp4"] is None

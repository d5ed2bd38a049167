"""Persons waiting at crosswalks (``counting.crosswalk``) on hand-built tracks, and their
pedestrian calls on the video frame builder's frames."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.site import CrosswalkConfig, LaneConfig, SiteConfig
from counting.crosswalk import CrosswalkWaits
from counting.video_source import CameraFrameBuilder
from vision.classes import CAR, MOTORCYCLE, PERSON
from vision.detections import Detections

# two kerb corners of one crossing, and a second crossing's corner
NORTH = CrosswalkConfig(crossing=":J0_c0", waiting_areas=[[(0, 0), (100, 0), (100, 100), (0, 100)],
                                                          [(300, 0), (400, 0), (400, 100), (300, 100)]])
EAST = CrosswalkConfig(crossing=":J0_c1", waiting_areas=[[(500, 300), (600, 300), (600, 400), (500, 400)]])


def person(x: float, feet_y: float, tid: int, *, cls: int = PERSON, w: float = 20, h: float = 60) -> tuple:
    """A box whose feet (bottom centre) are at (x, feet_y): a standing person is tall (h > 2.2 w)."""
    return (x - w / 2, feet_y - h, x + w / 2, feet_y, cls, tid)


def tracks(*rows: tuple) -> Detections:
    if not rows:
        return Detections.empty()
    a = np.array([r[:4] for r in rows], np.float32)
    return Detections(a, np.full(len(rows), 0.8), np.array([r[4] for r in rows]), np.array([r[5] for r in rows]))


def run(waits: CrosswalkWaits, frames: dict[float, Detections]) -> dict[float, tuple]:
    return {t: waits.update(d, t) for t, d in frames.items()}


def test_counts_persons_standing_in_any_waiting_area_after_the_minimum_wait() -> None:
    waits = CrosswalkWaits([NORTH, EAST], min_wait_s=2.0)
    out = run(waits, {t: tracks(person(50, 80, 1), person(350, 50, 2) if t >= 1 else person(200, 50, 2),
                                person(550, 350, 3, cls=CAR))
                      for t in np.arange(0.0, 6.0, 0.5)})
    north, east = out[1.5]
    assert (north.crossing, north.waiting, north.longest_wait_s) == (":J0_c0", 0, 0.0)  # nobody 2 s yet
    north, east = out[5.5]
    # track 1 since 0 s, track 2 in the second area since 1 s (it walked in from between them)
    assert (north.waiting, north.longest_wait_s) == (2, 5.5)
    assert (east.crossing, east.waiting) == (":J0_c1", 0)  # a car in the area is nobody waiting


def test_leaving_the_area_ends_the_wait_at_once_and_coming_back_starts_a_new_one() -> None:
    waits = CrosswalkWaits([NORTH], min_wait_s=0.0)
    here, away = tracks(person(50, 80, 7)), tracks(person(200, 80, 7))
    run(waits, {0.0: here, 1.0: here, 2.0: here})
    assert waits.update(away, 3.0)[0].waiting == 0  # it stepped off the kerb
    again = waits.update(here, 4.0)[0]
    assert (again.waiting, again.longest_wait_s) == (1, 0.0)


def test_a_short_dropout_keeps_the_wait_and_a_long_one_ends_it() -> None:
    waits = CrosswalkWaits([NORTH], min_wait_s=0.0, max_gap_s=3.0)
    here = tracks(person(50, 80, 4))
    run(waits, {0.0: here, 1.0: here})
    hidden = waits.update(tracks(), 3.0)[0]  # unseen 2 s (a bus passes): still waiting
    assert (hidden.waiting, hidden.longest_wait_s) == (1, 3.0)
    back = waits.update(here, 3.5)[0]
    assert (back.waiting, back.longest_wait_s) == (1, 3.5)  # the wait continues from 0 s
    assert waits.update(tracks(), 6.0)[0].waiting == 1  # 2.5 s since the last sighting
    assert waits.update(tracks(), 6.6)[0].waiting == 0  # 3.1 s: gone
    assert waits.update(here, 7.0)[0].longest_wait_s == 0.0  # seen again: a new wait


def test_riders_never_wait() -> None:
    waits = CrosswalkWaits([NORTH], min_wait_s=0.0)
    bike = (35.0, 60.0, 65.0, 100.0, MOTORCYCLE, 10)
    on_bike = person(50, 90, 11)  # its lower half over the motorcycle
    squat = person(350, 80, 12, w=40, h=50)  # a rider whose bike is hidden: torso and head
    walker = person(370, 90, 13)
    w = run(waits, {0.0: tracks(bike, on_bike, squat, walker), 1.0: tracks(bike, on_bike, squat, walker)})[1.0][0]
    assert (w.waiting, w.longest_wait_s) == (1, 1.0)  # only the person on foot


def site(crosswalks: list[CrosswalkConfig]) -> SiteConfig:
    lane = lambda i, a: LaneConfig(id=f"{a}_0", approach=a, polygon=[(i, 150), (i + 100, 150), (i + 100, 300), (i, 300)],
                                   stop_line=((i, 290), (i + 100, 290)), direction=(0, 1))
    return SiteConfig(camera="c", frame_size=(640, 480), lanes=[lane(100, "W_J0"), lane(300, "E_J0")],
                      crosswalks=crosswalks)


def test_frame_builder_puts_the_streams_calls_on_its_first_approachs_frame_only() -> None:
    builder = CameraFrameBuilder(site([NORTH, EAST]), step_s=1.0, crossings={":J0_c0": ("J0", 16)})
    frames: dict = {}
    for t in np.arange(0.0, 4.01, 0.5):
        frames = builder.update(tracks(person(50, 80, 1), person(550, 350, 2)), float(t)) or frames
    assert frames["E_J0"].pedestrians == ()
    (call,) = frames["W_J0"].pedestrians  # :J0_c1 is not in the network's crossings given: no call
    assert (call.tls_id, call.crossing, call.waiting, call.longest_wait_s) == ("J0", 16, 1, pytest.approx(4.0))
    quiet = CameraFrameBuilder(site([NORTH]), step_s=1.0)  # no network (replay): nothing calls
    for t in np.arange(0.0, 4.01, 0.5):
        frames = quiet.update(tracks(person(50, 80, 1)), float(t)) or frames
    assert frames["W_J0"].pedestrians == ()

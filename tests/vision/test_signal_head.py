import numpy as np
import pytest

from vision.signal_head import SignalHeadReader, lamp_colour

BOX = (10, 10, 30, 40)


def head(bgr=None):
    img = np.full((60, 60, 3), 60, np.uint8)        # grey housing
    if bgr is not None:
        img[20:25, 15:20] = bgr                     # a 5x5 lit lamp inside the box
    return img


@pytest.mark.parametrize("bgr, colour", [((40, 30, 240), "red"), ((230, 190, 10), "green"),
                                         ((20, 180, 250), "yellow"), (None, "dark")])
def test_lamp_colour_by_hue(bgr, colour):
    assert lamp_colour(head(bgr), BOX) == colour


def test_lit_pixels_outside_the_box_are_ignored():
    img = head()
    img[50:55, 50:55] = (40, 30, 240)
    assert lamp_colour(img, BOX) == "dark"


def test_reader_debounces_dates_changes_back_and_reads_dark_after_green_as_yellow():
    r = SignalHeadReader(BOX, confirm_frames=2)
    seq = ["green", "green", "dark", "dark", "dark", "red", "green", "red", "red"]
    states = [r.observe(lamp, t) for t, lamp in enumerate(seq)]
    # single frames (red at 5, green at 6) do not switch the light; two reds in a row do
    assert states == ["green", "green", "green", "yellow", "yellow", "yellow", "yellow", "yellow", "red"]
    iv = r.finish()
    assert [(i.colour, i.start_s, i.end_s, i.start_seen) for i in iv] == [
        ("green", 0, 2, False), ("yellow", 2, 7, True), ("red", 7, 8, True)]


def test_hanoi_clip_green_then_clearance_then_red(shared_data):
    from vision.video import VideoFile

    r = SignalHeadReader((100, 35, 127, 57))
    for frame in VideoFile(shared_data / "videos" / "hanoi_intersection.mp4", max_frames=60):
        r.update(frame.image, frame.t_s)
    colours = [(i.colour, round(i.start_s * 6), round(i.end_s * 6)) for i in r.finish()]
    # by eye: green to frame 12, dark 12-25, red from frame 26
    assert colours == [("green", 0, 12), ("yellow", 12, 25), ("red", 25, 59)]

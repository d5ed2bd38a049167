import numpy as np
import pytest

from calibration.homography import Homography
from calibration.site import LaneConfig
from counting.lane_zone import LaneZones
from vision.detections import Detections

LANE = LaneConfig(id="a", approach="sb", polygon=[(0, 0), (100, 0), (100, 200), (0, 200)],
                  stop_line=((0, 200), (100, 200)), direction=(0, 1))
# 10 px per metre, ground y grows toward the stop line.
H = Homography.from_points([(0, 0), (100, 0), (100, 200), (0, 200)], [(0, 0), (10, 0), (10, 20), (0, 20)])


def tr(rows, cls=2):
    xyxy = np.array([[x - 10, y - 20, x + 10, y] for x, y, _ in rows], np.float32)
    return Detections(xyxy, np.full(len(rows), 0.9), np.full(len(rows), cls), np.array([t for _, _, t in rows]))


def test_stopped_queue_in_vehicles_and_metres():
    z = LaneZones([LANE], H)
    # car 1 stopped 20 px (2 m) behind the stop line, car 2 stopped 80 px (8 m) behind, car 3 moving
    z.update(tr([(50, 180, 1), (50, 120, 2), (50, 40, 3)]), 0.0)
    s = z.update(tr([(50, 180, 1), (50, 120, 2), (50, 70, 3)]), 1.0)[0]
    assert (s.present, s.stopped) == (3, 2)
    assert s.queue_m == pytest.approx(8.0 + 4.5)       # farthest stopped car + its length
    assert s.present_by_class == {2: 3}


def test_vehicle_outside_lane_polygon_not_present_and_no_queue_without_homography():
    z = LaneZones([LANE])
    s = z.update(tr([(150, 100, 1)]), 0.0)[0]
    assert s.present == 0 and np.isnan(s.queue_m)


def test_homography_maps_known_points_and_distances():
    np.testing.assert_allclose(H.to_ground([(50, 100)]), [[5, 10]], atol=1e-9)
    np.testing.assert_allclose(H.to_image([(5, 10)]), [[50, 100]], atol=1e-6)
    assert H.distance_m([(0, 0)], [(30, 40)])[0] == pytest.approx(5.0)


def test_census_counts_every_detection_and_times_them_with_the_tracks():
    z = LaneZones([LANE], H)
    # tracks: car 1 stopped 2 m behind the line, car 3 moving at 3 m/s
    z.update(tr([(50, 180, 1), (50, 40, 3)]), 0.0)
    z.update(tr([(50, 180, 1), (50, 70, 3)]), 1.0)
    # the census sees 4 vehicles: the two tracked ones and two more standing at 5 and 10 m
    census = tr([(50, 180, -1), (50, 70, -1), (30, 150, -1), (70, 100, -1)])
    (s,) = z.census(census, 1.0)
    assert (s.present, s.stopped) == (4, 3)            # all but the one moving track
    assert s.queue_m == pytest.approx(10.0 + 4.5)      # the farthest detection not on a moving track

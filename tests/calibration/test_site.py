from pathlib import Path

import pytest
import yaml

from calibration.geometry import points_in_polygon, polygon_self_intersects, segments_cross
from calibration.homography import Homography
from calibration.site import load_site
from phasewise_errors import ConfigError

SITES = Path(__file__).resolve().parents[2] / "calibration" / "sites"

GOOD = {
    "camera": "cam",
    "frame_size": [640, 360],
    "homography": {"image_px": [[0, 360], [640, 360], [400, 0], [240, 0]],
                   "ground_m": [[0, 0], [10, 0], [10, 40], [0, 40]]},
    "lanes": [{"id": "l1", "approach": "nb", "movements": ["left"], "sumo_lane": "E1_0",
               "polygon": [[0, 0], [300, 0], [300, 360], [0, 360]],
               "stop_line": [[0, 250], [300, 250]], "direction": [0, 1]}],
}


def write(tmp_path, data):
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_example_sites_load_with_homography():
    for name in ("nl_highway_overpass", "ca_arterial"):
        site = load_site(SITES / f"{name}.yaml")
        assert len(site.lanes) == 4 and site.ground() is not None


def test_good_site_loads(tmp_path):
    site = load_site(write(tmp_path, GOOD))
    assert site.lanes[0].sumo_lane == "E1_0" and site.lanes[0].movements == ("left",)
    assert site.lanes[0].after_side_sign() != 0


def test_self_intersecting_polygon_named_in_error(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["lanes"][0]["polygon"] = [[0, 0], [300, 360], [300, 0], [0, 360]]
    with pytest.raises(ConfigError, match=r"site.yaml: lanes.0.polygon: is self-intersecting"):
        load_site(write(tmp_path, bad))


def test_lane_outside_frame_named_in_error(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["lanes"][0]["stop_line"] = [[0, 250], [900, 250]]
    with pytest.raises(ConfigError, match="outside the 640x360 frame"):
        load_site(write(tmp_path, bad))


def test_direction_along_stop_line_and_unknown_field_rejected(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["lanes"][0]["direction"] = [1, 0]
    with pytest.raises(ConfigError, match="direction runs along the stop line"):
        load_site(write(tmp_path, bad))
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["lanes"][0]["colour"] = "red"
    with pytest.raises(ConfigError, match="colour"):
        load_site(write(tmp_path, bad))


def test_missing_and_malformed_site_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_site(tmp_path / "none.yaml")
    p = tmp_path / "x.yaml"
    p.write_text("lanes: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_site(p)


def test_homography_needs_four_non_collinear_points():
    with pytest.raises(ConfigError, match="at least 4"):
        Homography.from_points([(0, 0), (1, 0), (1, 1)], [(0, 0), (1, 0), (1, 1)])
    with pytest.raises(ConfigError, match="collinear"):
        Homography.from_points([(0, 0), (1, 0), (2, 0), (3, 0)], [(0, 0), (1, 0), (1, 1), (0, 1)])


def test_geometry_helpers():
    assert polygon_self_intersects([(0, 0), (1, 1), (1, 0), (0, 1)])
    assert not polygon_self_intersects([(0, 0), (1, 0), (1, 1), (0, 1)])
    assert segments_cross([(5, 0)], [(5, 10)], (0, 5), (10, 5)).tolist() == [True]
    assert segments_cross([(15, 0)], [(15, 10)], (0, 5), (10, 5)).tolist() == [False]
    assert points_in_polygon([(5, 5), (15, 5)], [(0, 0), (10, 0), (10, 10), (0, 10)]).tolist() == [True, False]


def test_legacy_turn_spellings_load_with_a_deprecation_warning(tmp_path):
    old = yaml.safe_load(yaml.safe_dump(GOOD))
    old["lanes"][0].pop("movements")
    old["lanes"][0]["movement"] = "through_left"
    old["exits"] = [{"id": "x", "movement": "u_turn", "line": [[0, 10], [10, 10]]}]
    with pytest.warns(DeprecationWarning) as caught:
        site = load_site(write(tmp_path, old))
    assert any("through_left" in str(w.message) for w in caught) and any("u_turn" in str(w.message) for w in caught)
    assert site.lanes[0].movements == ("through", "left") and site.exits[0].movement == "uturn"


def test_unknown_turn_and_signal_head_outside_frame_named_in_error(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["lanes"][0]["movements"] = ["straight"]
    with pytest.raises(ConfigError, match="lanes.0.movements"):
        load_site(write(tmp_path, bad))
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["signal_heads"] = [{"id": "h", "box": [600, 10, 700, 50]}]
    with pytest.raises(ConfigError, match="signal head h: box .* outside the 640x360 frame"):
        load_site(write(tmp_path, bad))


def test_hanoi_site_reads_its_signal_head_and_junction():
    site = load_site(SITES / "hanoi_intersection.yaml")
    assert [lane.id for lane in site.lanes] == ["nb_1", "nb_2", "nb_3", "nb_r"]
    assert site.head_of("nb_2").id == "far" and site.head_of("nb_r") is None
    assert site.junction is not None and site.ground() is not None


def test_crosswalks_load_and_bad_waiting_areas_are_named(tmp_path):
    good = yaml.safe_load(yaml.safe_dump(GOOD))
    good["crosswalks"] = [{"crossing": ":J0_c3", "waiting_areas": [[[400, 10], [460, 10], [460, 60], [400, 60]],
                                                                   [[500, 10], [560, 10], [530, 60]]]}]
    site = load_site(write(tmp_path, good))
    assert site.crosswalks[0].crossing == ":J0_c3" and len(site.crosswalks[0].waiting_areas) == 2
    assert load_site(write(tmp_path, GOOD)).crosswalks == []  # optional: none, the cabinet's recall
    cases = [
        ([[[0, 0], [10, 0]]], r"crosswalks.0.waiting_areas: waiting area 0 needs at least 3 points, got 2"),
        ([[[0, 0], [50, 50], [50, 0], [0, 50]]], r"crosswalks.0.waiting_areas: waiting area 0 is self-intersecting"),
        ([[[600, 300], [700, 300], [650, 350]]],
         r"crosswalks.0 \(:J0_c3\): waiting area 0 point \[700.0, 300.0\] is outside the 640x360 frame"),
        ([], r"crosswalks.0.waiting_areas: List should have at least 1 item"),
    ]
    for areas, message in cases:
        bad = yaml.safe_load(yaml.safe_dump(good))
        bad["crosswalks"][0]["waiting_areas"] = areas
        with pytest.raises(ConfigError, match=message):
            load_site(write(tmp_path, bad))
    twice = yaml.safe_load(yaml.safe_dump(good))
    twice["crosswalks"].append(twice["crosswalks"][0])
    with pytest.raises(ConfigError, match="crossing :J0_c3 is listed twice"):
        load_site(write(tmp_path, twice))

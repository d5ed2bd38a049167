"""Virtual cameras on a short corridor run: field of view, true crossings, noise, outages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from counting.camera_frame import STOPPED_SPEED_M_S
from phasewise_errors import ConfigError
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import sumo_binary, sumo_module
from sumo_scenarios.sensing import BOX_CRAWL_M_S, CameraNetwork, CameraNoise, Outage, approach_lanes

HORIZON_S = 300
VIEW_M = 40.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """300 s of the medium corridor with a perfect, a noisy and a short-sighted camera network,
    and an induction loop at the end of every stop-line lane as the truth of crossings."""
    out = tmp_path_factory.mktemp("sensing")
    scenario = build_corridor(CorridorSpec(demand="medium", duration_s=HORIZON_S), 1, out)
    models = load_intersections(scenario.net_file)
    stop_lanes = sorted({link.from_lane for m in models.values() for link in m.links})
    loops = out / "loops.add.xml"
    loops.write_text("<additional>\n" + "".join(
        f'  <inductionLoop id="loop|{lane}" lane="{lane}" pos="-0.1" period="{HORIZON_S}" file="NUL"/>\n'
        for lane in stop_lanes) + "</additional>\n")
    conn = sumo_module()
    conn.start([sumo_binary(), "-n", str(scenario.net_file), "-r", str(scenario.route_files[0]),
                "-a", str(loops), "--no-step-log", "true", "--no-warnings", "true", "--seed", "1"])
    try:
        perfect = CameraNetwork(conn, models, noise=CameraNoise.perfect())
        near = CameraNetwork(conn, models, view_m=VIEW_M, noise=CameraNoise.perfect())
        noisy = CameraNetwork(conn, models, noise=CameraNoise(
            miss_rate=0.3, false_positive_rate=0.0, fragmentation_rate=0.0,
            outages=(Outage("W_J0", 100.0, 160.0),)), seed=3)
        occluded = CameraNetwork(conn, models, noise=CameraNoise(0.0, 0.0, 0.0, 0.0, 0.0, queued_miss_rate=0.5), seed=2)
        found = {"perfect": Counter(), "noisy": Counter(), "truth": Counter(), "truth_moves": Counter(),
                 "perfect_moves": Counter(), "near_ok": True, "near_cropped": False, "outage_frames": [],
                 "green_seen": False, "head_checks": 0, "head_agree": 0, "heads_stopped": 0,
                 "arrival_ok": True, "arrivals_seen": 0, "box_checks": 0, "box_agree": 0, "box_seen": 0,
                 "stopped": 0, "stopped_behind": 0, "stopped_occluded": 0, "occlusion_ok": True}
        left: set[tuple[str, str]] = set()
        boxes = {f":{tls}" for tls in models}  # internal lanes ":<junction>_<link>_<lane>" of signals
        for t in range(1, HORIZON_S + 1):
            conn.simulationStep()
            frames = perfect.observe(float(t))
            in_box = sum(1 for v in conn.vehicle.getIDList()
                         if conn.vehicle.getLaneID(v).rsplit("_", 2)[0] in boxes and conn.vehicle.getSpeed(v) < BOX_CRAWL_M_S)
            found["box_checks"] += 1
            found["box_agree"] += int(sum(int(f.stopped_in_junction.sum()) for f in frames.values()) == in_box)
            found["box_seen"] += in_box
            for cam_id, f in frames.items():
                lanes = perfect.layouts[cam_id].lanes
                for lane, move in zip(f.crossing_lane, f.crossing_movement):
                    found["perfect"][lanes[lane]] += 1
                    found["perfect_moves"][perfect.layouts[cam_id].movements[move]] += 1
                found["green_seen"] |= bool(f.green.any())
                _check_tracks(conn, lanes, f, found)
            for cam_id, f in occluded.observe(float(t)).items():
                _check_occlusion(frames[cam_id], f, found)
            for cam_id, f in noisy.observe(float(t)).items():
                found["noisy"][cam_id] += f.crossing_lane.size
                if cam_id == "W_J0" and not f.ok:
                    found["outage_frames"].append(t)
            for cam_id, f in near.observe(float(t)).items():
                for k, lane in enumerate(near.layouts[cam_id].lanes):
                    length = conn.lane.getLength(lane)
                    inside = sum(1 for v in conn.lane.getLastStepVehicleIDs(lane)
                                 if length - conn.vehicle.getLanePosition(v) <= VIEW_M)
                    found["near_ok"] &= int(f.present[k]) == inside
                    found["near_cropped"] |= conn.lane.getLastStepVehicleNumber(lane) > inside
            for lane in stop_lanes:
                for vid, _, _, leave_s, _ in conn.inductionloop.getVehicleData(f"loop|{lane}"):
                    if leave_s >= 0 and (vid, lane) not in left:
                        left.add((vid, lane))
                        found["truth"][lane] += 1
                        approach = lane.rsplit("_", 1)[0]
                        route = conn.vehicle.getRoute(vid)
                        nxt = route[route.index(approach) + 1]
                        model = next(m for m in models.values() if approach in m.approaches)
                        found["truth_moves"][next(m.id for m in model.movements
                                                  if m.approach == approach and nxt in m.to_edges)] += 1
        found["layouts"] = perfect.layouts
        return found
    finally:
        conn.close()


def _check_occlusion(seen, hidden, found: dict) -> None:
    """Occlusion hides only stopped vehicles behind a stopped head: never a moving one, never the head."""
    found["stopped"] += int(seen.stopped.sum())
    found["stopped_behind"] += int((seen.stopped - seen.head_stopped).clip(0).sum())
    found["stopped_occluded"] += int(hidden.stopped.sum())
    found["occlusion_ok"] &= bool(np.array_equal(seen.present - seen.stopped, hidden.present - hidden.stopped)
                                  and np.array_equal(seen.head_stopped, hidden.head_stopped)
                                  and (hidden.queue_m <= seen.queue_m).all())


def _check_tracks(conn, lanes: tuple[str, ...], f, found: dict) -> None:
    """Compare the frame's track features with SUMO's state on each stop-line lane."""
    for k, lane in enumerate(lanes):
        ids = conn.lane.getLastStepVehicleIDs(lane)
        if not ids:
            continue
        length = conn.lane.getLength(lane)
        dist = {v: length - conn.vehicle.getLanePosition(v) for v in ids}
        first = min(ids, key=dist.__getitem__)
        truth = conn.vehicle.getSpeed(first) < STOPPED_SPEED_M_S and dist[first] < 8.0
        found["head_checks"] += 1
        found["head_agree"] += int(bool(f.head_stopped[k]) == truth)
        found["heads_stopped"] += int(truth)
        moving = [dist[v] / conn.vehicle.getSpeed(v) for v in ids
                  if conn.vehicle.getSpeed(v) >= STOPPED_SPEED_M_S and dist[v] <= 100.0]  # the default view
        if moving:
            found["arrivals_seen"] += 1
            # the camera also sees the lanes upstream, so its nearest arrival is never later
            found["arrival_ok"] &= bool(f.arrival_s[k] <= min(moving) + 1e-6)


def test_tracks_give_the_stopped_head_and_the_next_arrival(run: dict) -> None:
    assert run["heads_stopped"] > 100 and run["arrivals_seen"] > 100
    assert run["head_agree"] == run["head_checks"]
    assert run["arrival_ok"]


def test_queued_occlusion_hides_about_its_rate_of_the_vehicles_behind_the_head(run: dict) -> None:
    assert run["occlusion_ok"]
    hidden = run["stopped"] - run["stopped_occluded"]
    assert run["stopped_behind"] > 200
    assert 0.35 * run["stopped_behind"] < hidden < 0.65 * run["stopped_behind"]


def test_camera_sees_vehicles_standing_in_the_junction_box(run: dict) -> None:
    # every vehicle inside a signalised junction crossed one of its cameras' stop lines
    assert run["box_seen"] > 20
    assert run["box_agree"] == run["box_checks"]


def test_view_follows_the_straight_road_through_a_merge(shared_scenarios: Path) -> None:
    """cologne3's approach 200818108#0 is 10 m long: the road continues straight upstream
    on 31864804 (70 m), while 8197886#0 joins from the side."""
    net = shared_scenarios / "cologne3" / "cologne3.net.xml"
    conn = sumo_module()
    conn.start([sumo_binary(), "-n", str(net), "--no-step-log", "true", "--no-warnings", "true"])
    try:
        view = approach_lanes(conn, "200818108#0", ["200818108#0_0", "200818108#0_1"], 100.0)
    finally:
        conn.close()
    edges = {vl.lane_id.rsplit("_", 1)[0]: vl.offset_m for vl in view}
    assert edges.keys() == {"200818108#0", "31864804"}
    assert edges["31864804"] == pytest.approx(10.0, abs=1.0)


def test_camera_sees_only_vehicles_within_its_view(run: dict) -> None:
    assert run["near_ok"], "present per lane must equal the vehicles within 40 m of the stop line"
    assert run["near_cropped"], "some lane held vehicles beyond the 40 m view during the run"


def test_perfect_camera_counts_every_true_stop_line_crossing(run: dict) -> None:
    truth, seen = run["truth"], run["perfect"]
    assert sum(truth.values()) > 300
    # The loop counts a vehicle when its rear leaves the line, the camera when its front has
    # passed: at most the vehicle crossing at the end of the run differs per lane.
    for lane in set(truth) | set(seen):
        assert abs(truth[lane] - seen[lane]) <= 1, lane
    for move in set(run["truth_moves"]) | set(run["perfect_moves"]):
        assert abs(run["truth_moves"][move] - run["perfect_moves"][move]) <= 1, move


def test_layouts_cover_every_approach_with_its_movements(run: dict) -> None:
    layout = run["layouts"]["W_J0"]
    assert layout.lanes == ("W_J0_0", "W_J0_1", "W_J0_2")
    assert set(layout.movements) == {"W_J0:right", "W_J0:through", "W_J0:left"}
    assert layout.serves[2].tolist() == [layout.movements[k] == "W_J0:left" for k in range(3)]
    assert run["green_seen"]


def test_misses_reduce_counts_and_outages_blank_the_camera(run: dict) -> None:
    seen = sum(run["noisy"].values())
    real = sum(run["perfect"].values()) - run["perfect"]["W_J0_0"] - run["perfect"]["W_J0_1"] - run["perfect"]["W_J0_2"]
    real_w = sum(n for lane, n in run["perfect"].items() if lane.startswith("W_J0_"))
    # W_J0 loses its crossings during the 60 s outage; elsewhere about 70 % are seen.
    assert 0.6 * real < seen - run["noisy"]["W_J0"] < 0.8 * real
    assert run["noisy"]["W_J0"] < real_w
    assert run["outage_frames"] == list(range(100, 160))


def test_noise_is_validated() -> None:
    with pytest.raises(ConfigError):
        CameraNoise(miss_rate=1.5)
    assert CameraNoise().detection_rates().crossing_ratio == pytest.approx(0.95 * 1.05 + 0.02)
    assert np.isclose(CameraNoise.perfect().detection_rates().presence_ratio, 1.0)


def test_buses_dwell_at_far_side_stops_and_receivers_hear_them_only_past_their_stop(tmp_path: Path) -> None:
    """A corridor bus line stops at the far-side stop after each junction; a priority receiver
    never hears a bus while it dwells, nor on an approach whose stop it has yet to serve, and
    hears it on the way from its stop to the next line."""
    from sumo_scenarios.sensing import PriorityReceivers

    spec = CorridorSpec(intersections=2, demand="low", duration_s=400.0, bus_headway_s=120.0, bus_dwell_s=15.0)
    scenario = build_corridor(spec, 1, tmp_path)
    stopinfo = tmp_path / "stops.xml"
    models = load_intersections(scenario.net_file)
    conn = sumo_module()
    conn.start([sumo_binary(), "-n", str(scenario.net_file), "-r", str(scenario.route_files[0]),
                "-a", ",".join(map(str, scenario.additional_files)), "--stop-output", str(stopinfo),
                "--no-step-log", "true", "--no-warnings", "true", "--seed", "1"])
    heard_dwelling, heard_before_stop, heard = 0, 0, set()
    try:
        receivers = PriorityReceivers(conn, models, classes=("bus",))
        for _ in range(400):
            conn.simulationStep()
            for call in receivers.observe():
                heard.add((call.vehicle_id, call.tls_id))
                heard_dwelling += int(conn.vehicle.isStopped(call.vehicle_id))
                lane = conn.vehicle.getLaneID(call.vehicle_id)
                # J0 -> J1 eastbound: the stop after J0 lies on the approach to J1
                if call.tls_id == "J1" and lane == "J0_J1.up_0":
                    heard_before_stop += int(conn.vehicle.getLanePosition(call.vehicle_id) < 20.0)
    finally:
        conn.close()
    stops = stopinfo.read_text()
    assert 'busStop="stop_J0_E"' in stops and 'busStop="stop_J1_W"' in stops
    assert heard_dwelling == 0 and heard_before_stop == 0
    assert {tls for _, tls in heard} == {"J0", "J1"}
    assert ("bus_W.0", "J1") in heard  # heard on its way from the stop after J0 to J1
